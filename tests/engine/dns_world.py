"""A /dns fix world: a local DNS server, a fake Cloudflare and a config pointing at both."""

from __future__ import annotations

from pydantic import SecretStr

from config import OutreachConfig
from tests.bot.data_world import data_config
from tests.fakes.cloudflare import TOKEN

DKIM = "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"
# d0.test sends through Google and has SPF, DKIM and MX but no DMARC; d1.test sends through
# Mailgun and lacks SPF and DMARC.
RECORDS = {
    ("d0.test", "TXT"): ["v=spf1 include:_spf.google.com ~all"],
    ("d0.test", "MX"): ["1 smtp.google.com."],
    ("s1._domainkey.d0.test", "TXT"): [DKIM],
    ("d1.test", "MX"): ["10 mxa.mailgun.org."],
    ("s1._domainkey.d1.test", "TXT"): [DKIM],
}
HOSTS = {"d0.test": "smtp.gmail.com", "d1.test": "smtp.mailgun.org"}
D0_DMARC = ("_dmarc.d0.test", "TXT", "v=DMARC1; p=none; rua=mailto:postmaster@d0.test")
D1_SPF = ("d1.test", "TXT", "v=spf1 include:mailgun.org ~all")
D1_DMARC = ("_dmarc.d1.test", "TXT", "v=DMARC1; p=none; rua=mailto:postmaster@d1.test")


def fix_config(nameserver: str, cloudflare_api: str, token: str | None = TOKEN) -> OutreachConfig:
    """Two domains on known SMTP providers, DNS at `nameserver`, Cloudflare at the fake."""
    base = data_config(nameserver=nameserver, selectors=["s1"])
    mailboxes = [
        m.model_copy(update={"smtp": m.smtp.model_copy(update={"host": HOSTS[m.domain]})})
        for m in base.mailboxes
    ]
    dns = base.dns.model_copy(
        update={
            "cloudflare_token": SecretStr(token) if token is not None else None,
            "cloudflare_api": cloudflare_api,
        }
    )
    return base.model_copy(update={"mailboxes": mailboxes, "dns": dns})
