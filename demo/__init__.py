"""The demo (development only): users for each role, cards and months of simulated history, a
trained champion, and the learning-loop demo. It sits above every other app of ours."""
