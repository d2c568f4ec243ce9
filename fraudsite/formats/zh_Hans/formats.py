DATE_FORMAT = "Y年n月j日"  # 2026年9月5日
DATETIME_FORMAT = "Y年n月j日 H:i"  # 2026年9月5日 20:45
SHORT_DATE_FORMAT = DATE_FORMAT  # one date format per language, as in English
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
DECIMAL_SEPARATOR = "."
# Amounts are in dollars and grouped by thousands, as banks in China print them (Django's own
# Chinese formats group by ten thousands without a separator).
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
