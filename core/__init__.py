"""The bottom layer: helpers every app may use. It imports no app of ours (only Django and the
standard library), so nothing here can pull the layers above into a cycle."""
