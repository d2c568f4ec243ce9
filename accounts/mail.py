"""Emails whose lines reach the reader as they were written.

Python's email package folds a body with a line longer than 78 characters into quoted-printable
(or base64), and a console or a plain mail reader then shows a password-reset link cut by soft
line breaks (`=` at the end of a line), which no longer opens. RFC 5322 allows lines of up to
998 characters, so the body is sent as it is: 7bit when it is ASCII, 8bit UTF-8 otherwise
(Chinese text), as Django did before 6.0.
"""

import email.policy

from django.core.mail import EmailMultiAlternatives

# RFC 5322 section 2.1.1: a line is at most 998 characters, without its CRLF.
MAX_LINE_LENGTH = 998


class PlainLinesEmail(EmailMultiAlternatives):
    def message(self, *, policy=email.policy.default):
        return super().message(policy=policy.clone(max_line_length=MAX_LINE_LENGTH))
