"""One module per `basso` sub-command; see basso.cli."""
