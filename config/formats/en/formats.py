"""Dates as every page of the app writes them ("2026-12-01 14:05", 24-hour), also where Django
formats them itself: the admin's lists and detail pages. Its English default ("Dec. 1, 2026,
2:05 p.m.") took a third of a list column at 1366 px and read differently from the team pages."""

DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
