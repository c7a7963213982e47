window.YTD.account.part0 = [
  {
    "account" : {
      "email" : "ada@example.org",
      "createdVia" : "web",
      "username" : "ada_ex",
      "accountId" : "1480000000000000001",
      "createdAt" : "2019-03-02T10:11:12.345Z",
      "accountDisplayName" : "Ada Example"
    }
  }
]