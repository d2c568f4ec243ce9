# Day month year and a 24-hour clock: short enough for a phone's table, and read the same way
# by every English reader (03/04 is March to some, April to others).
DATE_FORMAT = "j M Y"  # 5 Sep 2026
DATETIME_FORMAT = "j M Y, H:i"  # 5 Sep 2026, 20:45
# The short forms are the same: one date format per language, on every page and in the console.
SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
