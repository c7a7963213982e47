window.YTD.following.part0 = [
  {
    "following" : {
      "accountId" : "1655678915693257524",
      "userLink" : "https://twitter.com/intent/user?user_id=1655678915693257524"
    }
  },
  {
    "following" : {
      "accountId" : "1704235315682320828",
      "userLink" : "https://twitter.com/intent/user?user_id=1704235315682320828"
    }
  },
  {
    "following" : {
      "accountId" : "1086964350436948272",
      "userLink" : "https://twitter.com/intent/user?user_id=1086964350436948272"
    }
  },
  {
    "following" : {
      "accountId" : "648701410276208274",
      "userLink" : "https://twitter.com/intent/user?user_id=648701410276208274"
    }
  },
  {
    "following" : {
      "accountId" : "476412820770098887",
      "userLink" : "https://twitter.com/intent/user?user_id=476412820770098887"
    }
  },
  {
    "following" : {
      "accountId" : "1714283157999625576",
      "userLink" : "https://twitter.com/intent/user?user_id=1714283157999625576"
    }
  },
  {
    "following" : {
      "accountId" : "779229306563167005",
      "userLink" : "https://twitter.com/intent/user?user_id=779229306563167005"
    }
  },
  {
    "following" : {
      "accountId" : "1295642998300788059",
      "userLink" : "https://twitter.com/intent/user?user_id=1295642998300788059"
    }
  }
]