"""Our date and number formats per language; what they leave out comes from Django's."""
