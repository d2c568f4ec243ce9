DATE_FORMAT = "Y年n月j日"  # 2026年9月5日
DATETIME_FORMAT = "Y年n月j日 H:i"  # 2026年9月5日 20:45
DECIMAL_SEPARATOR = "."
# Amounts are in dollars and grouped by thousands, as banks in China print them (Django's own
# Chinese formats group by ten thousands without a separator).
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
