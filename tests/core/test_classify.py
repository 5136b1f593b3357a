"""SMTP replies and DSN statuses -> Outcome (SPEC 8), with providers' real wording."""

import pytest

from core.classify import classify_dsn_status, classify_reply
from core.models import OutcomeKind

K = OutcomeKind

# Texts as aiosmtplib hands them over: the basic code split off, one line per reply line.
GMAIL_NO_SUCH_USER = (
    "5.1.1 The email account that you tried to reach does not exist. Please try\n"
    "5.1.1 double-checking the recipient's email address for typos or\n"
    "5.1.1 unnecessary spaces. For more information, go to\n"
    "5.1.1  https://support.google.com/mail/?p=NoSuchUser 41be03b00d2f7-5e8b2d4bsi1.2 - gsmtp"
)


@pytest.mark.parametrize(
    ("code", "text", "kind", "status"),
    [
        # --- accepted
        (250, "2.0.0 OK  1764270000 41be03b00d2f7-5e8b2d4bsi1.2 - gsmtp", K.SENT, "2.0.0"),
        (250, "Ok: queued as 4B2D1A0C3F", K.SENT, None),  # Postfix
        (250, "Great success", K.SENT, None),  # Mailgun
        (250, "Ok 0100018c0a1b2c3d-4e5f6a7b-000000", K.SENT, None),  # Amazon SES
        # --- 421: back off the mailbox
        (421, "4.7.0 Try again later, closing connection. (EHLO) - gsmtp", K.BACKOFF, "4.7.0"),
        (
            421,
            "4.7.28 Our system has detected an unusual rate of unsolicited mail originating "
            "from your IP address. To protect our users from spam, mail sent from your IP "
            "address has been temporarily rate limited.",
            K.BACKOFF,
            "4.7.28",
        ),
        (
            421,
            "4.7.0 [TSS04] Messages from 203.0.113.5 temporarily deferred due to unexpected "
            "volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
            K.BACKOFF,
            "4.7.0",
        ),
        (421, "4.4.2 Connection dropped due to timeout", K.BACKOFF, "4.4.2"),
        # --- other 4xx: soft, retried
        (
            450,
            "4.2.1 The user you are trying to contact is receiving mail at a rate that "
            "prevents additional messages from being delivered.",
            K.SOFT,
            "4.2.1",
        ),
        (451, "4.3.0 Mail server temporarily rejected message.", K.SOFT, "4.3.0"),
        (451, "4.7.1 Greylisting in action, please come back later", K.SOFT, "4.7.1"),
        (
            451,
            "4.7.500 Server busy. Please try again later from [203.0.113.5]. (S77714)",
            K.SOFT,
            "4.7.500",
        ),
        (452, "4.2.2 The email account that you tried to reach is over quota.", K.SOFT, "4.2.2"),
        (452, "4.5.3 Too many recipients", K.SOFT, "4.5.3"),
        (454, "Throttling failure: Maximum sending rate exceeded.", K.SOFT, None),  # SES rate
        (450, "Requested mail action not taken: mailbox busy", K.SOFT, None),
        # a blocklist named in a temporary refusal is a block all the same (SPEC 8)
        (451, "4.7.1 Client host [203.0.113.5] blocked using zen.spamhaus.org", K.BLOCK, "4.7.1"),
        (
            421,
            "4.7.0 Service unavailable; client host blocked using bl.spamcop.net",
            K.BLOCK,
            "4.7.0",
        ),
        # other spam wording in a temporary refusal: rest the mailbox, don't cool the domain
        (450, "4.7.1 Message deferred: poor sender reputation", K.BACKOFF, "4.7.1"),
        # --- 552 / 5.2.2 mailbox full: soft
        (552, "5.2.2 The email account that you tried to reach is over quota.", K.SOFT, "5.2.2"),
        (
            552,
            "5.2.2 The recipient's inbox is out of storage space. Please direct the "
            "recipient to https://support.google.com/mail/?p=OverQuotaPerm",
            K.SOFT,
            "5.2.2",
        ),
        (
            554,
            "5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.",
            K.SOFT,
            "5.2.2",
        ),  # Exchange: "quota exceeded" here is the recipient's mailbox
        (552, "Requested mail action aborted: exceeded storage allocation", K.SOFT, None),
        (552, "Quota exceeded (mailbox for user is full)", K.SOFT, None),
        # --- provider cap: stop the mailbox for the day
        (
            550,
            "5.4.5 Daily user sending limit exceeded. For more information on Gmail sending "
            "limits go to https://support.google.com/a/answer/166852 - gsmtp",
            K.PROVIDER_CAP,
            "5.4.5",
        ),
        (
            550,
            "5.4.5 Daily SMTP relay limit exceeded for user. For more information on SMTP "
            "relay sending limits please contact your administrator",
            K.PROVIDER_CAP,
            "5.4.5",
        ),
        (550, "5.4.5 Daily sending quota exceeded.", K.PROVIDER_CAP, "5.4.5"),
        (
            554,
            "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed "
            "to process message due to a permanent exception",
            K.PROVIDER_CAP,
            "5.2.0",
        ),
        (
            550,
            "5.1.90 Your message can't be sent because you've reached your daily limit for "
            "message recipients.",
            K.PROVIDER_CAP,
            "5.1.90",
        ),  # Microsoft 365, not a bounce
        (454, "Throttling failure: Daily message quota exceeded.", K.PROVIDER_CAP, None),  # SES
        (550, "Sending limit exceeded for this account", K.PROVIDER_CAP, None),
        # --- authentication: pause the mailbox
        (
            535,
            "5.7.8 Username and Password not accepted. For more information, go to\n"
            "5.7.8  https://support.google.com/mail/?p=BadCredentials - gsmtp",
            K.AUTH,
            "5.7.8",
        ),
        (534, "5.7.9 Application-specific password required.", K.AUTH, "5.7.9"),
        (530, "5.7.0 Authentication Required.", K.AUTH, "5.7.0"),
        (
            535,
            "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for "
            "the Tenant.",
            K.AUTH,
            "5.7.139",
        ),  # Microsoft 365
        (535, "5.7.3 Authentication unsuccessful", K.AUTH, "5.7.3"),  # Outlook
        (535, "Authentication Credentials Invalid", K.AUTH, None),  # Amazon SES
        (
            550,
            "5.7.60 SMTP; Client does not have permissions to send as this sender",
            K.AUTH,
            "5.7.60",
        ),
        (554, "5.7.8 Authentication credentials invalid", K.AUTH, "5.7.8"),
        # --- block: the domain cools down
        (
            554,
            "5.7.1 Service unavailable; Client host [203.0.113.5] blocked using "
            "zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.5",
            K.BLOCK,
            "5.7.1",
        ),
        (
            550,
            "5.7.1 Our system has detected that this message is likely unsolicited mail. "
            "To reduce the amount of spam sent to Gmail, this message has been blocked.",
            K.BLOCK,
            "5.7.1",
        ),
        (
            550,
            "5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail "
            "requires all senders to authenticate with either SPF or DKIM.",
            K.BLOCK,
            "5.7.26",
        ),
        (
            550,
            "5.7.1 Unfortunately, messages from [203.0.113.5] weren't sent. Please contact "
            "your Internet service provider since part of their network is on our block "
            "list (S3150).",
            K.BLOCK,
            "5.7.1",
        ),  # Outlook.com
        (
            550,
            "5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.",
            K.BLOCK,
            "5.7.708",
        ),  # Microsoft 365
        (
            554,
            "5.7.9 Message not accepted for policy reasons.  See "
            "https://postmaster.yahooinc.com/error-codes",
            K.BLOCK,
            "5.7.9",
        ),  # Yahoo
        (
            553,
            "5.7.2 [TSS09] All messages from 203.0.113.5 will be permanently deferred; "
            "Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes",
            K.BLOCK,
            "5.7.2",
        ),
        (550, "Message rejected because 203.0.113.5 is listed at bl.spamcop.net", K.BLOCK, None),
        (
            554,
            "Your access to this mail system has been rejected due to the sending MTA's poor "
            "reputation.",
            K.BLOCK,
            None,
        ),
        (
            550,
            "Requested action not taken: mailbox unavailable (blocked using RBL "
            "b.barracudacentral.org)",
            K.BLOCK,
            None,
        ),  # blocklist beats "mailbox unavailable"
        # --- hard bounce: suppress the address
        (550, GMAIL_NO_SUCH_USER, K.HARD_BOUNCE, "5.1.1"),
        (
            550,
            "5.2.1 The email account that you tried to reach is disabled.",
            K.HARD_BOUNCE,
            "5.2.1",
        ),
        (
            550,
            "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
            K.HARD_BOUNCE,
            "5.1.10",
        ),  # Microsoft 365
        (
            550,
            "5.4.1 Recipient address rejected: Access denied. AS(201806281) [DM6NAM.prod]",
            K.HARD_BOUNCE,
            "5.4.1",
        ),  # Microsoft 365 directory-based edge blocking
        (
            550,
            "5.5.0 Requested action not taken: mailbox unavailable (S2017062302).",
            K.HARD_BOUNCE,
            "5.5.0",
        ),  # Outlook.com
        (
            554,
            "delivery error: dd This user doesn't have a yahoo.com account "
            "(nobody@yahoo.com) [0] - mta1035.mail.gq1.yahoo.com",
            K.HARD_BOUNCE,
            None,
        ),
        (552, "1 Requested mail action aborted, mailbox not found", K.HARD_BOUNCE, None),
        (
            550,
            "5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in "
            "virtual mailbox table",
            K.HARD_BOUNCE,
            "5.1.1",
        ),  # Postfix
        (550, "No such user here", K.HARD_BOUNCE, None),
        (551, "User unknown; please try <forward@example.net>", K.HARD_BOUNCE, None),
        (553, "5.1.3 Error: malformed address", K.HARD_BOUNCE, "5.1.3"),
        (553, "Mailbox does not exist", K.HARD_BOUNCE, None),
        # --- anything else permanent: this message failed
        (552, "5.3.4 Your message exceeded Google's message size limits.", K.FAILED, "5.3.4"),
        (
            554,
            "Message rejected: Email address is not verified. The following identities "
            "failed the check in region US-EAST-1: alex@brand-news.com",
            K.FAILED,
            None,
        ),
        (554, "Transaction failed", K.FAILED, None),
        (554, "5.6.0 Message contents are invalid", K.FAILED, "5.6.0"),
        (
            553,
            "5.1.8 Domain of sender address alex@brand-news.com does not exist",
            K.FAILED,
            "5.1.8",
        ),  # the sender's problem, not the recipient's
        (500, "5.5.1 Syntax error, command unrecognized", K.FAILED, "5.5.1"),
        (550, "", K.FAILED, None),
    ],
)
def test_reply_classes(code: int, text: str, kind: OutcomeKind, status: str | None) -> None:
    outcome = classify_reply(code, text)
    assert (outcome.kind, outcome.code, outcome.status) == (kind, code, status)


def test_text_is_one_trimmed_line_without_repeated_prefixes() -> None:
    outcome = classify_reply(550, GMAIL_NO_SUCH_USER + "\n")
    assert outcome.text.startswith("The email account that you tried to reach does not exist.")
    assert "\n" not in outcome.text
    assert "5.1.1" not in outcome.text
    assert outcome.text == outcome.text.strip()
    assert "  " not in outcome.text
    assert outcome.summary.startswith("550 5.1.1 The email account")


def test_full_reply_lines_are_understood() -> None:
    """A reply quoted whole (as in logs and DSNs) gives up its code and status too."""
    outcome = classify_reply(
        None,
        "550-5.1.1 The email account that you tried to reach does not exist.\n"
        "550 5.1.1 https://support.google.com/mail/?p=NoSuchUser - gsmtp",
    )
    assert (outcome.kind, outcome.code, outcome.status) == (K.HARD_BOUNCE, 550, "5.1.1")
    assert outcome.text == (
        "The email account that you tried to reach does not exist. "
        "https://support.google.com/mail/?p=NoSuchUser - gsmtp"
    )


def test_status_is_not_read_from_ip_addresses_or_versions() -> None:
    outcome = classify_reply(421, "Service not available from 5.4.5.1 - 4.16.55.1")
    assert (outcome.kind, outcome.status) == (K.BACKOFF, None)


def test_long_text_is_bounded() -> None:
    assert len(classify_reply(550, "x" * 5000).text) == 1000


def test_no_code_at_all_is_not_taken_for_success() -> None:
    assert classify_reply(None, "").kind is K.FAILED


def test_garbled_reply_is_soft() -> None:
    assert classify_reply(-1, "Malformed SMTP response line: hello").kind is K.SOFT


@pytest.mark.parametrize(
    ("status", "diagnostic", "kind", "code"),
    [
        (
            "5.1.1",
            "smtp; 550 5.1.1 <nobody@example.com>: Recipient address rejected: User "
            "unknown in local recipient table",
            K.HARD_BOUNCE,
            550,
        ),
        (
            "5.1.1",
            "smtp; 550-5.1.1 The email account that you tried to reach does not exist.",
            K.HARD_BOUNCE,
            550,
        ),
        ("5.0.0", 'X-Postfix; unknown user: "nobody"', K.HARD_BOUNCE, None),
        ("5.2.1", "", K.HARD_BOUNCE, None),
        (
            "5.7.1",
            "smtp; 554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked "
            "using zen.spamhaus.org",
            K.BLOCK,
            554,
        ),
        ("5.7.1", "", K.BLOCK, None),
        (
            "5.0.0",
            "smtp; 550 Message rejected because 203.0.113.5 is listed at bl.spamcop.net",
            K.BLOCK,
            550,
        ),
        ("5.4.5", "", K.PROVIDER_CAP, None),
        ("5.5.0", "smtp; 550 5.4.5 Daily user sending limit exceeded.", K.PROVIDER_CAP, 550),
        ("5.2.2", "smtp; 552 5.2.2 mailbox full", K.SOFT, 552),
        ("4.4.7", "smtp; 421 4.4.2 Connection timed out", K.SOFT, 421),
        (
            "4.2.2",
            "smtp; 452 4.2.2 The email account that you tried to reach is over quota.",
            K.SOFT,
            452,
        ),
        ("4.7.1", "smtp; 451 4.7.1 blocked using zen.spamhaus.org", K.SOFT, 451),
        # a final "expired" quotes the last temporary error: the code does not belong to it
        ("5.4.7", "smtp; 421 4.7.0 Try again later", K.FAILED, None),
        ("5.3.0", "X-Postfix; mail for example.com loops back to myself", K.FAILED, None),
        ("2.0.0", "smtp; 250 2.0.0 OK", K.SENT, 250),
        # a status with a comment after it, as some MTAs write it
        ("5.1.1 (bad destination mailbox address)", "", K.HARD_BOUNCE, None),
    ],
)
def test_dsn_status(status: str, diagnostic: str, kind: OutcomeKind, code: int | None) -> None:
    outcome = classify_dsn_status(status, diagnostic)
    assert (outcome.kind, outcome.code) == (kind, code)
    assert outcome.status == status.split(maxsplit=1)[0]


def test_dsn_text_drops_the_diagnostic_type_and_codes() -> None:
    outcome = classify_dsn_status("5.1.1", "smtp; 550 5.1.1 <x@example.com>: User unknown")
    assert outcome.text == "<x@example.com>: User unknown"


def test_dsn_without_a_usable_status_falls_back_to_the_diagnostic() -> None:
    outcome = classify_dsn_status("", "smtp; 550 5.1.1 User unknown")
    assert (outcome.kind, outcome.code, outcome.status) == (K.HARD_BOUNCE, 550, "5.1.1")
