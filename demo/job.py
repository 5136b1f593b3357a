"""The default world (SPEC 1's job): 10 domains x 3 mailboxes, all new, ramping to 1,200 a day.

Every mailbox starts warm-up on day 1 at 40 a day, each domain is capped at 120, and the
daily target is 1,200: SPEC 7's ramp brings the pool there on day 15, the day `plan` predicts
for it (core/ramp.py). Week 1 is warm-up traffic only (SPEC 7): the warm-up loop's mail
between the pool's own mailboxes and two seed inboxes fills each day's cap; from day 8 the
loop keeps its share and the campaigns fill the rest, the all-week vip list whatever the
capped weekday ones leave. The receivers' filters put 6 % of warm-up mail in Junk, 20 % of
brand-news.example's, whose inbox placement the loop then measures near the 70 % warning line.

The incidents come once the target is reached, so they show what the pool does after a setback
instead of moving the day the plan promised: a scraped list (dead addresses, a complaint and
a pause) on day 16, brandmail.example listed at Spamhaus on day 17 (its cool-down, then its
mailboxes back to warm-up phase 2), a trade-show list with another complaint on day 19, and
one mailbox's provider cap (5.4.5) on day 22. `mailboxes` sizes the pool (three a domain, the
lists in proportion); the incidents keep their days.
"""

from __future__ import annotations

import math
from datetime import time

from config import CampaignConfig
from demo.world import (
    ALL_WEEK,
    GREETING,
    TIMEZONE,
    WEEKDAYS,
    LeadList,
    Listing,
    ProviderCap,
    SenderDomain,
    Story,
    step,
)

MAILBOXES = 30  # SPEC 1: 10 root domains x 3 mailboxes
PER_DOMAIN = 3
MAILBOX_LIMIT = 40
DOMAIN_LIMIT = PER_DOMAIN * MAILBOX_LIMIT  # binds only if a mailbox were raised above 40
LISTED_DOMAIN = "brandmail.example"
CAPPED_MAILBOX = "kim@brand-news.example"
# A tick every 5 minutes: with the 300 s gap + 0..240 s jitter each mailbox sends every 10
# minutes, 40 mails in under 7 hours of the 12-hour all-week window; 30 mailboxes (or 5,000)
# share each tick instead of waking the loop one minute at a time.
TICK_SECONDS = 300
TARGET_DAY = 15  # what plan says for 30 new mailboxes at the defaults (checked by the tests)
SEEDS = ("seed.one@inbox-check.example", "seed.two@mailtest.example")
SPAM_SHARE = 0.06  # of warm-up mail, put in Junk by the receivers' filters
SPAMMY_DOMAIN = "brand-news.example"  # more of its mail lands in Junk; every pool has it
SPAMMY_SHARE = 0.20

DOMAINS = ("brand-news", "brandmail", "brand-hq", "trybrand", "getbrand", "brand-team",
           "hellobrand", "brand-labs", "meetbrand", "brand-io")  # fmt: skip
PEOPLE = (
    ("alex", "Alex Stone"), ("sam", "Sam Reed"), ("kim", "Kim Park"),
    ("lena", "Lena Vogt"), ("omar", "Omar Haddad"), ("rita", "Rita Costa"),
    ("max", "Max Weber"), ("ivy", "Ivy Chen"), ("noah", "Noah Brooks"),
    ("eva", "Eva Lind"), ("leo", "Leo Marx"), ("mia", "Mia Rossi"),
    ("jan", "Jan Novak"), ("ada", "Ada Kerr"), ("tom", "Tom Hale"),
    ("zoe", "Zoe Baptiste"), ("raj", "Raj Mehta"), ("una", "Una Flynn"),
    ("ben", "Ben Ortiz"), ("liv", "Liv Dahl"), ("kai", "Kai Wong"),
    ("ana", "Ana Silva"), ("ian", "Ian Moss"), ("eli", "Eli Brandt"),
    ("joy", "Joy Adams"), ("nils", "Nils Berg"), ("pia", "Pia Lange"),
    ("ron", "Ron Ellis"), ("sia", "Sia Kato"), ("ted", "Ted Young"),
)  # fmt: skip


def senders(mailboxes: int) -> tuple[SenderDomain, ...]:
    """`mailboxes` new mailboxes, three a domain; past the named ten, numbered domains."""
    count = math.ceil(mailboxes / PER_DOMAIN)
    domains = []
    for d in range(count):
        name = f"{DOMAINS[d]}.example" if d < len(DOMAINS) else f"brand{d + 1}.example"
        people = []
        for k in range(d * PER_DOMAIN, min(mailboxes, (d + 1) * PER_DOMAIN)):
            local, display = PEOPLE[k % len(PEOPLE)]
            people.append((local, display) if k < len(PEOPLE) else (f"{local}{k}", display))
        domains.append(SenderDomain(name, tuple(people), warming=True, daily_limit=DOMAIN_LIMIT))
    return tuple(domains)


def lists(mailboxes: int, lead_scale: float = 1.0) -> tuple[LeadList, ...]:
    """The lists, sized for `mailboxes` (30: about 25,000 leads, room for five weeks).

    `lead_scale` shrinks them for a run of a few days (the benchmark's 5,000 mailboxes).
    """
    scale = mailboxes / MAILBOXES * lead_scale

    def size(n: int) -> int:
        return max(1, round(n * scale))

    return (
        LeadList("vip-intros", "vip-intros.csv", size(14000), 1, unknown=0.001, reply=0.06),
        LeadList("eu-agencies", "eu-agencies.csv", size(4000), 1, unknown=0.001, reply=0.04),
        LeadList("us-founders", "us-founders.csv", size(4000), 1, unknown=0.001, reply=0.03),
        LeadList("scraped-saas", "scraped-saas.csv", size(1500), 16, unknown=0.08, reply=0.01),
        LeadList("expo-2019", "expo-2019.csv", size(1200), 19, unknown=0.05, reply=0.01),
    )


def campaigns(mailboxes: int) -> tuple[CampaignConfig, ...]:
    """Five campaigns; the all-week vip list fills whatever the capped weekday ones leave."""
    greet = GREETING
    scale = mailboxes / MAILBOXES

    def cap(n: int) -> int:
        return max(1, round(n * scale))

    return (
        CampaignConfig(
            name="vip-intros", timezone=TIMEZONE, days=ALL_WEEK, hours="08:00-20:00",
            steps=[
                step("{{ first_name }}, {a quick intro|an introduction}",
                     f"{greet}\n\nAnna suggested I write to you about {{{{ company }}}}."),
                step(None, f"{greet}\n\nHappy to send details whenever suits.", 4),
            ],
        ),
        CampaignConfig(
            name="eu-agencies", timezone=TIMEZONE, days=WEEKDAYS, hours="08:30-16:30",
            daily_limit=cap(400),
            steps=[
                step("{Quick question|An idea} for {{ company }}",
                     f"{greet}\n\nWe help agencies like {{{{ company }}}} ship reports faster."),
                step(None, f"{greet}\n\nJust bumping this up.", 3),
            ],
        ),
        CampaignConfig(
            name="us-founders", timezone="America/New_York", days=WEEKDAYS,
            hours="07:00-15:00", daily_limit=cap(400),
            steps=[
                step("{{ company }} + Brand?", f"{greet}\n\nFounder to founder: a short idea."),
                step(None, f"{greet}\n\nAny thoughts on my note?", 3),
                step(None, f"{greet}\n\nLast one from me, promise.", 4),
            ],
        ),
        CampaignConfig(
            name="scraped-saas", timezone="Europe/London", days=WEEKDAYS, hours="09:00-15:00",
            daily_limit=cap(150),
            steps=[
                step("Saw {{ company }} online", f"{greet}\n\nWe should talk."),
                step(None, f"{greet}\n\nFollowing up.", 3),
            ],
        ),
        CampaignConfig(
            name="expo-2019", timezone=TIMEZONE, days=WEEKDAYS, hours="09:00-17:00",
            daily_limit=cap(120),
            steps=[
                step("We met at Expo 2019", f"{greet}\n\nWe met at the {{{{ company }}}} booth."),
                step(None, f"{greet}\n\nBumping this.", 3),
            ],
        ),
    )  # fmt: skip


def job_story(mailboxes: int = MAILBOXES, *, lead_scale: float = 1.0) -> Story:
    """SPEC 1's job as one Story: `mailboxes` new mailboxes, a target of 40 a mailbox."""
    pool = senders(mailboxes)
    addresses = [f"{local}@{d.name}" for d in pool for local, _ in d.people]
    # The listed domain and the capped mailbox exist in every pool of at least 4 mailboxes;
    # a smaller one gets its incidents on its first domain and mailbox.
    listed = LISTED_DOMAIN if any(d.name == LISTED_DOMAIN for d in pool) else pool[0].name
    capped = CAPPED_MAILBOX if CAPPED_MAILBOX in addresses else addresses[0]
    scale = mailboxes / MAILBOXES
    return Story(
        name="job",
        senders=pool,
        lists=lists(mailboxes, lead_scale),
        campaigns=campaigns(mailboxes),
        complaints=(
            ("scraped-saas", 1, max(1, round(25 * scale))),
            ("expo-2019", 1, max(1, round(40 * scale))),
        ),  # fmt: skip
        listing=Listing(listed, start=(17, time(11, 0)), end=(24, time(0, 0))),
        provider_cap=ProviderCap(capped, day=22, after=20),
        daily_target=MAILBOX_LIMIT * mailboxes,
        mailbox_limit=MAILBOX_LIMIT,
        tick_seconds=TICK_SECONDS,
        seeds=SEEDS,
        spam_share=SPAM_SHARE,
        spam_domains=((SPAMMY_DOMAIN, SPAMMY_SHARE),),
    )
