"""The reminder mail: written from a due todo (user input kept out of the headers) and handed to SMTP."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from reminders.models import DueTodo
from reminders.settings import Settings

SMTP_TIMEOUT_SECONDS = 10.0
#: What a failed hand-over raises; the scan counts the reminder as failed and releases it for a retry.
MAIL_ERRORS = (smtplib.SMTPException, OSError, UnicodeError)


def _one_line(text: str) -> str:
    # A title is user input: no line break may reach a mail header (header injection).
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def build_message(todo: DueTodo, email: str, settings: Settings) -> EmailMessage:
    """The reminder for `todo`, to `email`; `ValueError` if the address is no valid header."""
    title = _one_line(todo.title)
    due = f"{todo.due_at:%Y-%m-%d %H:%M} UTC"
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = email
    message["Subject"] = f"Reminder: {title}"
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or "todo-suite.test")
    message["X-Todo-Id"] = str(todo.id)
    message.set_content(f'Your todo "{title}" is due at {due}.\n\n-- reminders, todo-suite\n')
    return message


def send_mail(message: EmailMessage, email: str, settings: Settings) -> None:
    """Hand the message to the SMTP server (blocking: call it in a thread)."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        smtp.send_message(message, to_addrs=[email])
