window.YTD.follower.part0 = [
  {
    "follower" : {
      "accountId" : "1343613016503359282",
      "userLink" : "https://twitter.com/intent/user?user_id=1343613016503359282"
    }
  },
  {
    "follower" : {
      "accountId" : "970259948060647297",
      "userLink" : "https://twitter.com/intent/user?user_id=970259948060647297"
    }
  },
  {
    "follower" : {
      "accountId" : "1797003092840378106",
      "userLink" : "https://twitter.com/intent/user?user_id=1797003092840378106"
    }
  },
  {
    "follower" : {
      "accountId" : "167826790056722531",
      "userLink" : "https://twitter.com/intent/user?user_id=167826790056722531"
    }
  },
  {
    "follower" : {
      "accountId" : "332679552930238331",
      "userLink" : "https://twitter.com/intent/user?user_id=332679552930238331"
    }
  },
  {
    "follower" : {
      "accountId" : "1604851723664811221",
      "userLink" : "https://twitter.com/intent/user?user_id=1604851723664811221"
    }
  },
  {
    "follower" : {
      "accountId" : "1776952939459772112",
      "userLink" : "https://twitter.com/intent/user?user_id=1776952939459772112"
    }
  },
  {
    "follower" : {
      "accountId" : "1654269371211811313",
      "userLink" : "https://twitter.com/intent/user?user_id=1654269371211811313"
    }
  },
  {
    "follower" : {
      "accountId" : "222424399797694481",
      "userLink" : "https://twitter.com/intent/user?user_id=222424399797694481"
    }
  },
  {
    "follower" : {
      "accountId" : "888926867182475534",
      "userLink" : "https://twitter.com/intent/user?user_id=888926867182475534"
    }
  },
  {
    "follower" : {
      "accountId" : "1623988113841940524",
      "userLink" : "https://twitter.com/intent/user?user_id=1623988113841940524"
    }
  },
  {
    "follower" : {
      "accountId" : "203605100892727621",
      "userLink" : "https://twitter.com/intent/user?user_id=203605100892727621"
    }
  },
  {
    "follower" : {
      "accountId" : "239980302581308103",
      "userLink" : "https://twitter.com/intent/user?user_id=239980302581308103"
    }
  },
  {
    "follower" : {
      "accountId" : "727551586273311777",
      "userLink" : "https://twitter.com/intent/user?user_id=727551586273311777"
    }
  },
  {
    "follower" : {
      "accountId" : "1186356375093181641",
      "userLink" : "https://twitter.com/intent/user?user_id=1186356375093181641"
    }
  },
  {
    "follower" : {
      "accountId" : "1403370106248366847",
      "userLink" : "https://twitter.com/intent/user?user_id=1403370106248366847"
    }
  },
  {
    "follower" : {
      "accountId" : "642503894670140046",
      "userLink" : "https://twitter.com/intent/user?user_id=642503894670140046"
    }
  },
  {
    "follower" : {
      "accountId" : "1773394299727697447",
      "userLink" : "https://twitter.com/intent/user?user_id=1773394299727697447"
    }
  },
  {
    "follower" : {
      "accountId" : "1459554169973390215",
      "userLink" : "https://twitter.com/intent/user?user_id=1459554169973390215"
    }
  },
  {
    "follower" : {
      "accountId" : "1792745181342973037",
      "userLink" : "https://twitter.com/intent/user?user_id=1792745181342973037"
    }
  },
  {
    "follower" : {
      "accountId" : "841768862236623616",
      "userLink" : "https://twitter.com/intent/user?user_id=841768862236623616"
    }
  },
  {
    "follower" : {
      "accountId" : "1044824780567262230",
      "userLink" : "https://twitter.com/intent/user?user_id=1044824780567262230"
    }
  },
  {
    "follower" : {
      "accountId" : "1295871789188986787",
      "userLink" : "https://twitter.com/intent/user?user_id=1295871789188986787"
    }
  },
  {
    "follower" : {
      "accountId" : "1442801647493776504",
      "userLink" : "https://twitter.com/intent/user?user_id=1442801647493776504"
    }
  },
  {
    "follower" : {
      "accountId" : "1007236535123539632",
      "userLink" : "https://twitter.com/intent/user?user_id=1007236535123539632"
    }
  },
  {
    "follower" : {
      "accountId" : "209522184552522415",
      "userLink" : "https://twitter.com/intent/user?user_id=209522184552522415"
    }
  },
  {
    "follower" : {
      "accountId" : "1281159207489189943",
      "userLink" : "https://twitter.com/intent/user?user_id=1281159207489189943"
    }
  },
  {
    "follower" : {
      "accountId" : "1573550111122726388",
      "userLink" : "https://twitter.com/intent/user?user_id=1573550111122726388"
    }
  },
  {
    "follower" : {
      "accountId" : "707515721721082437",
      "userLink" : "https://twitter.com/intent/user?user_id=707515721721082437"
    }
  },
  {
    "follower" : {
      "accountId" : "789441990065958095",
      "userLink" : "https://twitter.com/intent/user?user_id=789441990065958095"
    }
  },
  {
    "follower" : {
      "accountId" : "228155412270881458",
      "userLink" : "https://twitter.com/intent/user?user_id=228155412270881458"
    }
  },
  {
    "follower" : {
      "accountId" : "1654346733104535507",
      "userLink" : "https://twitter.com/intent/user?user_id=1654346733104535507"
    }
  },
  {
    "follower" : {
      "accountId" : "1240394697313331669",
      "userLink" : "https://twitter.com/intent/user?user_id=1240394697313331669"
    }
  },
  {
    "follower" : {
      "accountId" : "612021926470376477",
      "userLink" : "https://twitter.com/intent/user?user_id=612021926470376477"
    }
  },
  {
    "follower" : {
      "accountId" : "133933511259191476",
      "userLink" : "https://twitter.com/intent/user?user_id=133933511259191476"
    }
  },
  {
    "follower" : {
      "accountId" : "1074027513045367396",
      "userLink" : "https://twitter.com/intent/user?user_id=1074027513045367396"
    }
  },
  {
    "follower" : {
      "accountId" : "1179663543974407757",
      "userLink" : "https://twitter.com/intent/user?user_id=1179663543974407757"
    }
  },
  {
    "follower" : {
      "accountId" : "1864195812268931302",
      "userLink" : "https://twitter.com/intent/user?user_id=1864195812268931302"
    }
  },
  {
    "follower" : {
      "accountId" : "1631336966431081201",
      "userLink" : "https://twitter.com/intent/user?user_id=1631336966431081201"
    }
  },
  {
    "follower" : {
      "accountId" : "1785689117811235937",
      "userLink" : "https://twitter.com/intent/user?user_id=1785689117811235937"
    }
  },
  {
    "follower" : {
      "accountId" : "536653417228120634",
      "userLink" : "https://twitter.com/intent/user?user_id=536653417228120634"
    }
  },
  {
    "follower" : {
      "accountId" : "1698888564617036065",
      "userLink" : "https://twitter.com/intent/user?user_id=1698888564617036065"
    }
  }
]