window.__THAR_CONFIG = {
  "userInfo" : {
    "accountId" : "1480000000000000001",
    "userName" : "ada_ex",
    "displayName" : "Ada Example"
  },
  "archiveInfo" : {
    "sizeBytes" : "48213",
    "generationDate" : "2026-10-01T06:12:40.123Z",
    "isPartialArchive" : false,
    "maxPartSizeBytes" : "53687091200"
  },
  "dataTypes" : {
    "follower" : {
      "files" : [
        {
          "fileName" : "data/follower.js",
          "globalName" : "YTD.follower.part0",
          "count" : "40"
        }
      ]
    },
    "following" : {
      "files" : [
        {
          "fileName" : "data/following.js",
          "globalName" : "YTD.following.part0",
          "count" : "8"
        }
      ]
    },
    "account" : {
      "files" : [
        {
          "fileName" : "data/account.js",
          "globalName" : "YTD.account.part0",
          "count" : "1"
        }
      ]
    }
  }
}