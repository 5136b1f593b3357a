"""The warm-up loop's words: greetings, topics, sign-offs and replies, with `{a|b}` spintax.

Plain, everyday notes between colleagues. No links, addresses, numbers to call or attachments:
the loop's mails must read like people writing to each other, and give a filter nothing to click.
Each topic pairs a subject with a body that fits it; `{name}` style fields are never used here,
the recipient's and sender's names are put in after the spintax is spun.
"""

from __future__ import annotations

# A greeting line with a name; `NAME` is replaced by the recipient's first name.
GREETINGS_NAMED = (
    "Hi NAME,",
    "Hello NAME,",
    "Hey NAME,",
    "{Hi|Hello} NAME, {hope you're well|hope all is good|hope your week is going well}.",
    "Good {morning|afternoon} NAME,",
    "NAME,",
    "Hi NAME, {quick one|a quick note} from me.",
    "Dear NAME,",
    "Hey NAME, {hope things are calm on your side|how's it going}?",
    "Morning NAME,",
)

# The same, for a recipient whose name we don't know.
GREETINGS_PLAIN = (
    "Hi,",
    "Hello,",
    "Hi there,",
    "Hello there,",
    "Good {morning|afternoon},",
    "Hey,",
    "{Hi|Hello}, {hope you're well|hope all is good}.",
    "Hi, {quick one|a quick note} from me.",
)

# (subject, body) pairs: a subject that fits its body.
TOPICS = (
    (
        "{Notes|My notes} from {today's|this morning's} call",
        "I {wrote up|put together} {a few|some} notes from {the call|our call} and will {share "
        "them|send them over} once I've {cleaned them up|tidied them}. {Nothing urgent|No rush}, "
        "but let me know if I missed anything you wanted {covered|included}.",
    ),
    (
        "{Friday|Thursday|Next week}'s {meeting|catch-up}",
        "{Are we still on|Is it still fine} for {the catch-up|our meeting}? I can {move it|shift "
        "it} {an hour|a bit} later if that {suits|works better for} you.",
    ),
    (
        "{Quick question|One question} about the {draft|outline}",
        "I {read|went through} the {draft|outline} {last night|this morning}. {Overall it "
        "reads well|It reads well overall}; I only {wondered|had a question} whether the second "
        "part {could be shorter|needs all the detail}. What do you think?",
    ),
    (
        "{Lunch|Coffee|A coffee} soon?",
        "{Would you be up for|Fancy} {lunch|a coffee} {this week|next week}? {Tuesday or "
        "Wednesday|Wednesday or Thursday} {works|would work} for me, {but|though} I'm flexible.",
    ),
    (
        "{Thanks for yesterday|Thank you for yesterday}",
        "{Thanks again|Many thanks} for {taking the time|making time} yesterday. It {really "
        "helped|helped a lot} to {talk it through|go through it together}, and I {feel|am} much "
        "clearer about the next steps now.",
    ),
    (
        "{The book|That book} you mentioned",
        "I finally {started|picked up} the book you {mentioned|recommended}. {Only a few "
        "chapters in|Only just started}, but {I like it so far|it's already got me thinking}. "
        "{Thanks for the tip|Good recommendation}!",
    ),
    (
        "{Plan|Plans} for {next quarter|the new quarter}",
        "I've started {thinking about|sketching} {the plan|our plans} for the {next|new} quarter. "
        "{Could we|Shall we} {sit down|find half an hour} to {compare notes|go over it} before "
        "{the end of the month|the month is out}?",
    ),
    (
        "{Small update|Quick update} on the {project|report}",
        "{Just a quick update|A short update}: the {first part|first half} is done and I'm "
        "{working on|moving on to} the rest {now|this week}. {I'll keep you posted|More soon}.",
    ),
    (
        "{Weekend|Your weekend}",
        "{How was|Did you have a good} {your weekend|the weekend}? {We finally had|We got} "
        "{some sun|decent weather} here and {spent most of it|were} outside, {which was "
        "lovely|which was much needed}.",
    ),
    (
        "{Holiday|Time off} {dates|plans}",
        "{Just so you know|Heads up}, I'm planning to {take|be off} {a few days|a week} {later "
        "this month|next month}. I'll {make sure|check} nothing is left {hanging|open} before I "
        "go.",
    ),
    (
        "{Re-reading|Looking at} {the proposal|our proposal}",
        "I {looked at|re-read} the proposal {again|once more} with fresh eyes. {I think|I'd say} "
        "the {opening|introduction} could be {a bit|slightly} {warmer|friendlier}, the rest "
        "{holds up well|is fine}.",
    ),
    (
        "{Out for a bit|Away for a few hours}",
        "{I'll be|I'm} {out|away} for {a couple of hours|part of the day} {tomorrow|later "
        "today}, so {if you need me|should anything come up}, {just write|drop me a line} and "
        "I'll {get back to you|answer} in the evening.",
    ),
    (
        "{Agenda|An agenda} for {Monday|next time}",
        "{Shall I|Should I} {put together|draft} {a short|a rough} agenda for {Monday|next "
        "time}? I'd {start with|open with} the open questions and {leave|keep} {the rest|the "
        "updates} for the end.",
    ),
    (
        "{Good news|Some good news}",
        "{Some good news|Good news} for a change: the {numbers|figures} for last month {came "
        "in|landed} {a little|slightly} better than we {expected|hoped}. {More when we "
        "talk|I'll tell you more when we speak}.",
    ),
    (
        "{Your|The} {recipe|soup recipe}",
        "I {tried|made} the {soup|recipe} you {told me about|described} and {it was a "
        "hit|everyone loved it}. {I added|I put in} a bit more {garlic|pepper} than you said, "
        "{hope that's allowed|I hope you don't mind}.",
    ),
    (
        "{Running late|Slightly late} {today|this morning}",
        "{Sorry|Apologies}, {I'm running|running} {a bit|about twenty minutes} late "
        "{today|this morning}; {the trains are a mess|traffic is slow}. {Start without "
        "me|Go ahead without me} if {needed|you like}.",
    ),
    (
        "{Feedback|Your feedback}",
        "{Thanks for|Thank you for} the {feedback|comments}. I {agree|think you're right} "
        "{about|on} the structure and will {rework|change} it {this week|before Friday}.",
    ),
    (
        "{The workshop|That workshop}",
        "{Did you go to|Were you at} the workshop {last week|on Thursday}? I {heard|was told} "
        "it was {good|worth it} and I'm {wondering|curious} whether {to sign up|I should go} "
        "{next time|for the next one}.",
    ),
    (
        "{Checking in|Just checking in}",
        "{Just checking in|Checking in} to see how {things are|everything is} going on your "
        "side. {It's been|It has been} {a while|some time} since we {last spoke|caught up}.",
    ),
    (
        "{A thought|An idea} on the {timeline|schedule}",
        "I've been thinking about the {timeline|schedule}. If we {move|push} the review {a "
        "week|a few days} later, {we'd have|there would be} more room for {testing|the final "
        "checks}. {Would that work|Would that be fine} for you?",
    ),
    (
        "{Welcome back|Good to have you back}",
        "{Welcome back|Good to have you back}! {I hope|Hope} the {trip|time away} was "
        "{good|restful}. {No rush|There's no rush} to {catch up|go through everything}, "
        "{things were quiet|it was fairly quiet} here.",
    ),
    (
        "{Question|A question} about the review",
        "{Do you know|Any idea} {who else|who} is {coming|joining} on {Thursday|for the "
        "review}? I'd like to {prepare|get} {a few|some} {slides|notes} {in advance|ahead of "
        "time}.",
    ),
    (
        "{Following up|Follow-up} on {our chat|our talk}",
        "{Following up on|About} {our chat|what we talked about}: I {asked|spoke to} the team "
        "and {they're happy|they're fine} with the {change|new plan}. {So we're good to "
        "go|So we can go ahead}.",
    ),
    (
        "{In the office|At the office}?",
        "{Will you be|Are you} in the office {next week|on Wednesday}? {It would be nice|It'd "
        "be good} to {catch up|talk} in person {for once|for a change}.",
    ),
    (
        "{Podcast|A podcast} {tip|recommendation}",
        "{I listened to|I came across} a {good|great} podcast {episode|interview} on {team "
        "habits|planning} {this week|on my commute}. {It reminded me of|It made me think of} "
        "{our|that} conversation {last month|a while ago}. {I'll tell you about it|Happy to "
        "tell you more} {when we meet|next time}.",
    ),
    (
        "{Draft|The draft} is {ready|done}",
        "{The draft|The first draft} is {ready|done}. I'll {bring|print} {a copy|it} "
        "{tomorrow|to the meeting} so we can {go through it|look at it} together.",
    ),
    (
        "{Thank you|Thanks}",
        "{Just wanted to say thanks|A quick thank you} for {your help|helping out} {last "
        "week|the other day}. {It made a real difference|It really made a difference}.",
    ),
    (
        "{Schedule|Timing} for {the call|our call}",
        "{Could we|Can we} {move|shift} {our call|the call} to {the afternoon|later in the "
        "day}? {Something came up|A meeting came up} {in the morning|this morning}. {Sorry for "
        "the change|Sorry about the shuffle}.",
    ),
    (
        "{Training|The training}",
        "{Are you|Would you be} interested in the training {next month|in spring}? {I'm "
        "thinking of|I'm considering} {going|signing up} and it {would be more fun|would be "
        "nicer} with {someone I know|a familiar face}.",
    ),
    (
        "{Where we are|Status} {on the move|with the move}",
        "{The move|Moving} is {going|coming along} {slowly|step by step}. {Most boxes are|Half "
        "the boxes are} {unpacked|sorted} and the {kitchen|study} {works again|is usable "
        "again}. {Thanks for asking|Thanks for checking in}.",
    ),
    (
        "{Catching up|Catch up} {soon|this month}?",
        "{It's been ages|It's been a while}. {Shall we|Would you like to} {catch up|meet} "
        "{some time this month|in the next few weeks}? {Evenings are easier|Afternoons are "
        "easier} for me {at the moment|right now}.",
    ),
    (
        "{The numbers|Figures} {for May|for the month}",
        "I {went through|checked} the {figures|numbers} {again|once more} and they {add "
        "up|match} now. {The difference|The gap} was {a typo|a double entry} {in the first "
        "sheet|on my side}, {sorry about that|my mistake}.",
    ),
    (
        "{Your presentation|The presentation}",
        "{Really enjoyed|I enjoyed} your presentation {yesterday|this morning}. {The "
        "part|The section} {about|on} {priorities|the roadmap} was {especially|very} "
        "{clear|useful}. {Well done|Nice work}.",
    ),
    (
        "{Garden|The garden} {update|news}",
        "{The tomatoes|The beans} {finally came up|are finally growing}, {after|despite} "
        "{all that rain|the cold week}. {Your tip|Your advice} about {the soil|watering} "
        "{worked|really worked}.",
    ),
    (
        "{Small favour|A small favour}",
        "{Could I ask|May I ask} a small favour? {When you have a minute|If you have a "
        "moment}, {could you|would you} {look over|read} {my summary|the summary} and tell me "
        "if it {makes sense|reads clearly}? {No rush at all|Any time this week is fine}.",
    ),
    (
        "{The|That} conference",
        "{Are you going to|Will you be at} the conference {in autumn|later this year}? {I'm "
        "still deciding|I haven't decided yet}; {it would help|it'd help} to know {who else is "
        "going|if anyone I know is going}.",
    ),
    (
        "{Back from|Home from} {the trip|my trip}",
        "{Back from|Home from} {the trip|my trip} {and|and finally} {catching up|going through "
        "my inbox}. {It was|The trip was} {tiring but good|long but worth it}. {Let's "
        "talk|Let's catch up} {soon|this week}.",
    ),
    (
        "{Reminder|Just a reminder}: {the new time|our meeting}",
        "{Just a reminder|A gentle reminder} that we {moved|changed} {the meeting|our "
        "session} to {Thursday|tomorrow} {afternoon|morning}. {See you then|Talk then}.",
    ),
    (
        "{A walk|Fresh air} this weekend?",
        "{The weather looks good|It's meant to be sunny} {for the weekend|on Sunday}. {Would "
        "you like|Do you fancy} {a walk|a hike} {by the lake|in the hills}? {Morning "
        "suits|Mornings suit} me {best|better}.",
    ),
    (
        "{New|The new} {process|routine}",
        "{How are you getting on|How's it going} with the new {process|routine}? {For me|On "
        "my side} it {took|needed} {a few days|a week} {to settle|to get used to}, but it "
        "{saves time now|is quicker now}.",
    ),
    (
        "{Happy birthday|Birthday wishes}",
        "{Happy birthday|A very happy birthday}! {I hope|Hope} you have a {lovely|good} day "
        "and get {some time off|a bit of a break} to {celebrate|enjoy it}.",
    ),
    (
        "{Any news|News} {on the budget|about the budget}?",
        "{Any news|Have you heard anything} {on|about} the budget {yet|for next year}? {I'd "
        "like to|I want to} {plan|book} the {training|workshop} {soon|early} {but|and} need "
        "to know {what we have|how much there is}.",
    ),
)

# The sign-off line; `NAME` is the sender's first name, dropped when unknown.
SIGN_OFFS = (
    "Best,\nNAME",
    "Thanks,\nNAME",
    "Cheers,\nNAME",
    "{Talk soon|Speak soon},\nNAME",
    "{Kind regards|Regards},\nNAME",
    "{All the best|Best wishes},\nNAME",
    "{Have a good day|Have a nice day},\nNAME",
    "{Thanks again|Many thanks},\nNAME",
    "NAME",
    "- NAME",
    "{See you soon|See you},\nNAME",
    "{Warmly|Warm regards},\nNAME",
)

# Answers, in the receiver's voice.
REPLIES = (
    "{Thanks|Thank you} for {the note|your note|letting me know}. {Sounds good|That works} "
    "{to me|for me}.",
    "{Great|Good}, thanks! {I'll take a look|I'll have a look} {later today|tomorrow} and "
    "{get back to you|let you know}.",
    "{That works for me|Fine by me}. {See you then|Talk then}.",
    "{Thanks for the update|Thanks for keeping me posted}, {good to hear|glad to hear it}.",
    "{Sure|Of course}, {happy to|glad to}. {Just let me know when|Tell me when it suits you}.",
    "{Oh nice|Nice}, {thanks for sharing|thank you for sharing}. {Let's talk more|More "
    "about it} {soon|next time}.",
    "{Agreed|I agree}, {let's do that|let's go with that}. {Thanks for thinking of "
    "it|Thanks for sorting it}.",
    "{Got it|Noted}, {thanks|thank you}. {No problem at all|No worries}.",
    "{Good idea|Good thought}. {I'm in|Count me in}.",
    "{Thanks|Thank you}! {Hope the rest of your week|Hope your day} {goes well|is a good one}.",
    "{Ha, yes|Yes}, {I remember|I know what you mean}. {Thanks for the reminder|Glad you "
    "mentioned it}.",
    "{Perfect|Lovely}, {thank you|thanks}. {I'll note it down|I've put it in my calendar}.",
)
