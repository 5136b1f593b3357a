"""The small world (`demo --world small`): 4 domains x 3 mailboxes, one of them warming.

Three domains are warm, one starts warm-up on day 1; five campaigns: three good lists, a
hand-picked one allowed during warm-up week 1, and two bad lists (scraped, and an old
trade-show export) imported later, full of dead addresses. Incidents come early: complaints on
day 1, brandmail.example listed at Spamhaus on day 4, kim's provider cap on day 9. The domain
caps keep the whole run near 2,000 mails. The warm-up loop writes between the pool's mailboxes
and one seed inbox; the receivers' filters put most of trybrand.example's warm-up mail in Junk,
so its inbox placement falls under 50 % and its campaign mail is held (SPEC 7).
"""

from __future__ import annotations

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

SENDERS = (
    SenderDomain("brand-news.example", (("alex", "Alex Stone"), ("sam", "Sam Reed"),
                                        ("kim", "Kim Park")), warming=False, daily_limit=15),
    SenderDomain("brandmail.example", (("lena", "Lena Vogt"), ("omar", "Omar Haddad"),
                                       ("rita", "Rita Costa")), warming=False, daily_limit=15),
    SenderDomain("brand-hq.example", (("max", "Max Weber"), ("ivy", "Ivy Chen"),
                                      ("noah", "Noah Brooks")), warming=True, daily_limit=30),
    SenderDomain("trybrand.example", (("eva", "Eva Lind"), ("leo", "Leo Marx"),
                                      ("mia", "Mia Rossi")), warming=False, daily_limit=15),
)  # fmt: skip

LISTS = (
    LeadList("vip-intros", "vip-intros.csv", 800, 1, unknown=0.003, reply=0.08),
    LeadList("eu-agencies", "eu-agencies.csv", 700, 1, unknown=0.005, reply=0.04),
    LeadList("us-founders", "us-founders.csv", 700, 1, unknown=0.005, reply=0.03),
    LeadList("scraped-saas", "scraped-saas.csv", 400, 5, unknown=0.08, reply=0.01),
    LeadList("expo-2019", "expo-2019.csv", 300, 12, unknown=0.06, reply=0.01),
)


def campaigns() -> tuple[CampaignConfig, ...]:
    """The small world's campaigns: windows in their own timezones, follow-ups, daily caps."""
    greet = GREETING
    # The pool is smaller than the campaigns' caps together. The hand-picked list opens
    # last, at 16:00, when the warm domains are at their caps: on weekdays it feeds the
    # mailboxes in warm-up week 1, which take no other campaign's mail.
    return (
        CampaignConfig(
            name="eu-agencies", timezone=TIMEZONE, days=WEEKDAYS, hours="08:30-16:30",
            daily_limit=20,
            steps=[
                step("{Quick question|An idea} for {{ company }}",
                     f"{greet}\n\nWe help agencies like {{{{ company }}}} ship reports faster."),
                step(None, f"{greet}\n\nJust bumping this up.", 3),
            ],
        ),
        CampaignConfig(
            name="us-founders", timezone="America/New_York", days=WEEKDAYS,
            hours="07:00-15:00", daily_limit=20,
            steps=[
                step("{{ company }} + Brand?", f"{greet}\n\nFounder to founder: a short idea."),
                step(None, f"{greet}\n\nAny thoughts on my note?", 3),
                step(None, f"{greet}\n\nLast one from me, promise.", 4),
            ],
        ),
        CampaignConfig(
            name="vip-intros", timezone=TIMEZONE, days=ALL_WEEK,
            hours="16:00-20:00", daily_limit=30, during_warmup=True,
            steps=[
                step("{{ first_name }}, {a quick intro|an introduction}",
                     f"{greet}\n\nAnna suggested I write to you about {{{{ company }}}}."),
                step(None, f"{greet}\n\nHappy to send details whenever suits.", 4),
            ],
        ),
        CampaignConfig(
            name="scraped-saas", timezone="Europe/London", days=WEEKDAYS, hours="09:00-15:00",
            daily_limit=10,
            steps=[
                step("Saw {{ company }} online", f"{greet}\n\nWe should talk."),
                step(None, f"{greet}\n\nFollowing up.", 3),
            ],
        ),
        CampaignConfig(
            name="expo-2019", timezone=TIMEZONE, days=WEEKDAYS, hours="09:00-17:00",
            daily_limit=8,
            steps=[
                step("We met at Expo 2019", f"{greet}\n\nWe met at the {{{{ company }}}} booth."),
                step(None, f"{greet}\n\nBumping this.", 3),
            ],
        ),
    )  # fmt: skip


def small_story() -> Story:
    """The small world as one Story."""
    return Story(
        name="small",
        senders=SENDERS,
        lists=LISTS,
        campaigns=campaigns(),
        # eu-agencies' morning hours: with the warm-up loop's share of these small domain caps
        # kept for it, the afternoon's us-founders gets little of the first weeks.
        complaints=(("eu-agencies", 1, 6), ("eu-agencies", 1, 60), ("us-founders", 2, 40)),
        listing=Listing("brandmail.example", start=(4, time(11, 0)), end=(11, time(0, 0))),
        # A new, low-limit provider account refuses kim's 5th mail on the first weekday from
        # day 9.
        provider_cap=ProviderCap("kim@brand-news.example", day=9, after=4),
        daily_target=80,
        seeds=("seed@inbox-check.example",),
        spam_share=0.05,
        spam_domains=(("trybrand.example", 0.6),),
    )
