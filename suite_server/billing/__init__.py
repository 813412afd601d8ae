"""WeCom paid apps (应用付费): the orders corps place for a suite and the edition each is on."""
