"""Contact points in one profile: emails, phones, websites and handles elsewhere (SPEC §2, §7).

Pure: text in, normalized values out; no network, no database (linking stores and uses them).
Every field that can carry a contact is read: display name, bio, website, the profile's own
URL, Mastodon profile fields, and the platform extras in ``data`` (GitHub ``blog``, ``email``,
``twitter_username``; Mastodon ``verified_links``, ``moved``; X ``bio_links``, ``location``;
Bluesky ``website``; a vCard ``note``).

>>> [(f.kind, f.value, f.source) for f in extract(
...     "x", "12", "ana_pro", "Ana 🐘 @ana@mastodon.social", None,
...     "Writes at ana.substack.com, mail ANA@Example.org, call +44 20 7946 0958", "https://ana.dev/?utm_source=x",
...     {"location": "bsky: @ana.dev"})]  # doctest: +NORMALIZE_WHITESPACE
[('website', 'https://ana.dev', 'website'),
 ('handle', 'mastodon:ana@mastodon.social', 'display_name'),
 ('handle', 'substack:ana', 'bio'),
 ('email', 'ana@example.org', 'bio'),
 ('phone', '+442079460958', 'bio'),
 ('handle', 'bluesky:ana.dev', 'data:location')]

Value forms (``Found.value``):

- email: validated by email-validator (syntax only), lower-cased, IDN domain in Unicode NFC;
- phone: E.164 (``+442079460958``), only numbers phonenumbers calls valid; national numbers
  only when a region is given;
- website: ``https://host[:port]/path?query`` with the host lower-cased and in IDNA ASCII form,
  no credentials, no fragment, no trackers, no slash for the root;
- handle: ``platform:identifier``: ``mastodon:user@host``, ``bluesky:name.bsky.social`` or
  ``bluesky:did:plc:…``, ``x:name``, ``github:name``, ``instagram:name``, ``threads:name``,
  ``tiktok:name``, ``linkedin:slug``, ``youtube:@name`` / ``youtube:channel/UC…`` /
  ``youtube:c/name`` / ``youtube:user/name``, ``substack:name`` (a publication,
  ``name.substack.com``) / ``substack:@name`` (a person, ``substack.com/@name``).

How to read what is found, for linking:

- A URL that names a profile gives the handle only, not also a website.
- A handle on the profile's own platform (``@acme`` in an X bio) is a mention: it can be an
  employer or a friend as well as an alt account; only a mention in both directions says
  much. Handles that are the profile itself (``own_handles``) are never returned.
- A website on a shared host (``is_shared_host``: linktr.ee, github.com, medium.com, …) is
  kept, but is never a personal website.
- Extracted emails have consent ``unknown`` (SPEC §2): published, not given to us.

Patterns and their false positives come from Fedifinder (lucahammer/fedifinder,
``public/client.js`` ``findHandles``: words split on separators; ``@user@host``, ``host/@user``;
mail providers and link-in-bio hosts filtered out because addresses looked like handles) and
Debirdify (pruvisto/debirdify, ``extract_mastodon_ids.py``: ``user@host`` without the leading
``@`` only when the host looks like a fediverse server; forbidden hosts such as gmail.com,
medium.com, tiktok.com, youtube.com, twitter.com, pronouns.page). Neither is copied: both
checked unknown hosts over the network, which this module never does.

Hostile text is expected: every field is cut to ``MAX_TEXT`` characters, control characters
become spaces, bidi overrides and zero-width characters are removed before matching, words
are found by one negated-class regex (linear time) and classified without backtracking
patterns, and a field yields at most ``MAX_CANDIDATES`` classified words.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote, unquote, unquote_plus

import idna  # a dependency of email-validator; UTS 46 mapping for host names
import phonenumbers
from email_validator import EmailNotValidError, validate_email

# -- limits ------------------------------------------------------------------------------------

MAX_TEXT = 100_000  # characters of one field that are read (Mastodon bios are 500, X 160)
MAX_TOKEN = 2_100  # a longer word cannot hold a value within the caps below
MAX_EMAIL = 320  # RFC 3696 errata: 64 + 1 + 255
MAX_URL = 2_048  # what browsers and sitemaps keep (sitemaps.org: < 2,048)
MAX_NAME = 100  # a user name: X 15, GitHub 39, Instagram 30, LinkedIn slugs 100
MAX_DOMAIN = 253  # RFC 1035
MAX_CANDIDATES = 256  # classified words per field: a real bio has a handful
MAX_PHONE_CANDIDATES = 32  # phone-shaped runs per field
MAX_FOUND = 128  # values per profile
MAX_LIST = 16  # entries read from a list in ``data`` (Mastodon allows 4 profile fields by default)
MAX_FIELD_NAME = 64  # of a Mastodon profile field, in ``Found.source``


@dataclass(frozen=True, slots=True)
class Found:
    """One contact point found in a profile.

    ``Found("handle", "mastodon:ana@mastodon.social", "field:Mastodon", verified=True)``: the
    profile field named Mastodon links to that account, and Mastodon verified the link
    (``rel=me``).
    """

    kind: str  # email | phone | website | handle
    value: str  # normalized (see the module docstring)
    source: str  # bio | display_name | website | url | field:<name> | data:<key>
    verified: bool = False


# -- hosts ---------------------------------------------------------------------------------------

# Hosts that are never one person's website. A subdomain of one is shared too, unless the host
# gives each user a subdomain (_OWN_SUBDOMAINS): ana.substack.com is Ana's, substack.com is not.
SHARED_HOSTS: frozenset[str] = frozenset({
    # link-in-bio pages (Fedifinder and Debirdify filter these too)
    "linktr.ee", "linktree.com", "beacons.ai", "beacons.page", "carrd.co", "bio.link", "lnk.bio",
    "campsite.bio", "taplink.cc", "linkin.bio", "solo.to", "allmylinks.com", "about.me",
    "withkoji.com", "koji.to", "manylink.co", "bento.me", "msha.ke", "hoo.be", "flow.page",
    "linkpop.com", "stan.store", "tap.bio", "snipfeed.co", "contactinbio.com", "lnk.to",
    "ffm.to", "hypel.ink", "direct.me", "pronouns.page", "pronouny.xyz", "keybase.io",
    # shorteners and redirectors
    "t.co", "bit.ly", "lnkd.in", "buff.ly", "ow.ly", "tinyurl.com", "goo.gl", "is.gd", "trib.al",
    "dlvr.it", "fb.me", "youtu.be", "t.me", "wa.me", "rebrand.ly", "cutt.ly", "shorturl.at",
    "tiny.cc", "rb.gy", "amzn.to", "forms.gle", "spoti.fi", "apple.co", "smarturl.it",
    # platforms (a profile there is a handle, not a website)
    "x.com", "twitter.com", "instagram.com", "facebook.com", "fb.com", "linkedin.com",
    "github.com", "gitlab.com", "youtube.com", "tiktok.com", "threads.net", "threads.com",
    "bsky.app", "bsky.social", "medium.com", "substack.com", "tumblr.com", "reddit.com",
    "pinterest.com", "twitch.tv", "discord.gg", "discord.com", "snapchat.com", "telegram.me",
    "whatsapp.com", "spotify.com", "soundcloud.com", "bandcamp.com", "vimeo.com", "flickr.com",
    "behance.net", "dribbble.com", "deviantart.com", "artstation.com", "vsco.co", "patreon.com",
    "ko-fi.com", "buymeacoffee.com", "paypal.me", "paypal.com", "venmo.com", "cash.app",
    "gofundme.com", "etsy.com", "amazon.com", "google.com", "apple.com", "microsoft.com",
    "wikipedia.org", "wikimedia.org", "orcid.org", "researchgate.net", "academia.edu",
    "calendly.com", "eventbrite.com", "meetup.com", "mailchi.mp", "eepurl.com", "buttondown.email",
    "buttondown.com", "ghost.io", "beehiiv.com", "tinyletter.com", "notion.so", "notion.site",
    "wordpress.com", "blogspot.com", "wix.com", "wixsite.com", "squarespace.com",
    "github.io", "gitlab.io", "netlify.app", "vercel.app", "pages.dev", "herokuapp.com",
    "itch.io", "neocities.org", "micro.blog", "mastodon.social", "mastodon.online",
    "stackoverflow.com", "quora.com", "goodreads.com", "letterboxd.com", "imdb.com",
    "onlyfans.com", "cameo.com", "clubhouse.com", "telegram.org", "signal.me", "signal.org",
    "skeb.jp", "foundation.app", "observablehq.com", "figma.com", "docs.google.com",
    "sites.google.com", "drive.google.com", "open.substack.com", "cal.com",
})
_OWN_SUBDOMAINS = frozenset({
    "substack.com", "carrd.co", "medium.com", "tumblr.com", "wordpress.com", "blogspot.com",
    "github.io", "gitlab.io", "netlify.app", "vercel.app", "pages.dev", "wixsite.com",
    "notion.site", "ghost.io", "bandcamp.com", "neocities.org", "micro.blog", "herokuapp.com",
    "itch.io", "beehiiv.com", "bsky.social", "linktr.ee",
})

# Mail providers: ``@ana@gmail.com`` is an address there, not a fediverse account (Fedifinder
# and Debirdify both filter these). A host whose first label is a brand below with at most
# three labels counts too (yahoo.co.uk, hotmail.fr, gmx.at).
_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
    "yahoo.com", "ymail.com", "rocketmail.com", "aol.com", "icloud.com", "me.com", "mac.com",
    "proton.me", "protonmail.com", "protonmail.ch", "pm.me", "tutanota.com", "tutanota.de",
    "tuta.io", "tuta.com", "tutamail.com", "keemail.me", "web.de", "posteo.de", "posteo.net",
    "mailbox.org", "fastmail.com", "fastmail.fm", "hey.com", "zoho.com", "zohomail.com",
    "yandex.ru", "yandex.com", "ya.ru", "mail.ru", "bk.ru", "inbox.ru", "list.ru", "qq.com",
    "163.com", "126.com", "sina.com", "naver.com", "daum.net", "hanmail.net", "free.fr",
    "orange.fr", "laposte.net", "wanadoo.fr", "sfr.fr", "t-online.de", "arcor.de", "freenet.de",
    "libero.it", "virgilio.it", "tiscali.it", "bell.net", "sympatico.ca", "comcast.net",
    "verizon.net", "att.net", "sbcglobal.net", "cox.net", "btinternet.com", "sky.com",
    "virginmedia.com", "seznam.cz", "centrum.cz", "wp.pl", "o2.pl", "onet.pl", "interia.pl",
    "riseup.net", "disroot.org", "duck.com", "skiff.com", "rediffmail.com", "uol.com.br",
    "bol.com.br", "terra.com.br", "shaw.ca", "rogers.com", "bigpond.com", "optusnet.com.au",
    "xs4all.nl", "ziggo.nl", "telenet.be", "skynet.be", "bluewin.ch", "hushmail.com",
    "runbox.com", "migadu.com", "cock.li", "email.com", "mail.com", "usa.com", "post.com",
})
_SECOND_LEVEL = frozenset({"co", "com", "ne", "or", "net", "org"})
_MAIL_BRANDS = frozenset({
    "gmail", "googlemail", "hotmail", "outlook", "live", "yahoo", "ymail", "gmx", "icloud",
    "protonmail", "aol", "msn", "yandex", "mail", "web", "orange", "libero", "tutanota", "posteo",
})

# Fediverse servers common enough to recognise ``ana@server`` written without the leading ``@``
# (Debirdify's ``known_host_callback``); other hosts need ``@ana@host``, a Mastodon label, or a
# name that looks like one (_FEDI_WORDS). Never used to decide that ``server`` alone is a handle.
_KNOWN_INSTANCES = frozenset({
    "mastodon.social", "mastodon.online", "mstdn.social", "mas.to", "fosstodon.org", "hachyderm.io",
    "infosec.exchange", "chaos.social", "mastodon.world", "mastodon.art", "techhub.social",
    "universeodon.com", "mstdn.jp", "pawoo.net", "social.coop", "kolektiva.social",
    "mastodon.cloud", "sigmoid.social", "mathstodon.xyz", "scholar.social", "aus.social",
    "mastodon.scot", "mastodon.ie", "toot.community", "tech.lgbt", "social.vivaldi.net",
    "masto.ai", "journa.host", "newsie.social", "mastodon.green", "ioc.exchange", "piaille.fr",
    "mamot.fr", "framapiaf.org", "troet.cafe", "norden.social", "det.social", "social.tchncs.de",
    "indieweb.social", "wandering.shop", "octodon.social", "botsin.space", "mastodon.lol",
    "misskey.io", "pixelfed.social", "lemmy.world", "mastodon.uno", "nrw.social", "mstdn.ca",
    "toot.cafe", "ruby.social", "floss.social", "social.linux.pizza", "snabelen.no",
    "mastodon.nl", "eldritch.cafe", "hci.social", "fediscience.org", "qoto.org", "todon.eu",
})
_FEDI_WORDS = frozenset({"social", "masto", "mastodon", "mstdn", "toot", "fedi"})

# Hosts whose ``/@name`` or ``@name@host`` is not a fediverse account (Debirdify's
# forbidden hosts, and medium.com/@ana: fuddl/wd#104). Subdomains included.
_NOT_FEDIVERSE = (SHARED_HOSTS - _KNOWN_INSTANCES) | _MAIL_DOMAINS | frozenset({
    "gamejolt.com", "traewelling.de", "nomadlist.com", "peakd.com", "jabber.ccc.de", "vice.com",
    "wsj.com", "theguardian.com", "cbsnews.com", "cnn.com", "welt.de", "nytimes.com",
    "gmx.de", "gmx.net", "gmx.com", "gmx.at", "gmx.ch", "hive.blog", "odysee.com", "dev.to",
    "hashnode.com", "producthunt.com", "kaggle.com", "codepen.io", "replit.com",
})

# Scheme-less "host/path" in free text is a URL only for these top-level domains, so that
# "node.js/react" or "M.Sc./PhD" are not websites.
_COMMON_TLDS = frozenset({
    "com", "org", "net", "io", "dev", "me", "co", "app", "blog", "xyz", "info", "page", "site",
    "online", "tech", "ai", "eu", "uk", "de", "fr", "nl", "es", "it", "ch", "at", "be", "se", "no",
    "dk", "fi", "pl", "cz", "pt", "ca", "au", "nz", "jp", "br", "in", "us", "social", "art",
    "design", "studio", "space", "link", "club", "email", "press", "news", "website", "tv", "fm",
    "gg", "ie", "is", "cc", "ly", "to", "so",
})

# Top-level names Bluesky refuses for handles (atproto.com/specs/handle).
_BAD_HANDLE_TLDS = frozenset({"alt", "arpa", "example", "internal", "invalid", "local", "localhost", "onion", "test"})

# Query keys that only track the click (utm_* besides).
_TRACKERS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid",
    "li_fat_id", "mc_eid", "mc_cid", "ref", "ref_src", "ref_url", "igshid", "igsh", "_hsenc",
    "_hsmi", "mkt_tok", "trk", "trkcampaign", "s_cid", "oly_anon_id", "oly_enc_id", "vero_id",
    "wickedid", "rb_clickid", "_ga", "_gl", "spm",
})

# -- cleaning ------------------------------------------------------------------------------------

# Removed before matching: format characters (category Cf: bidi overrides and isolates,
# zero-width space/joiners, BOM, soft hyphen, tags; up to Unicode 16), variation selectors,
# the combining grapheme joiner and the Hangul fillers that render as nothing.
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD),
    (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD),
    (0x110CD, 0x110CD), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE007F), (0xE0100, 0xE01EF),
)
_INVISIBLE = re.compile("[" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in _INVISIBLE_RANGES) + "]")
# Controls (and lone surrogates, which JSON lets in) become spaces. Tab, CR and LF are white
# space to the word regex already, so ASCII text without other controls is left as it is.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TRUNCATED = "\ue000"  # stands for "…" through NFKC (which would make it "...")
_X_LOGO = "\U0001D54F"  # 𝕏 would become a plain "X" under NFKC; it is kept a label (🐦)

# A word: a run of anything but white space and the brackets, quotes and separators that never
# occur inside an address (Fedifinder's split list, plus CJK brackets). One negated class: linear.
_SEPARATORS = r"\s<>\"()\[\]{}|,;\\`«»“”„‹›「」『』《》【】〈〉・丨"
_TOKEN = re.compile(f"[^{_SEPARATORS}]+")
# A word that can hold an address: it has one of @ . / : in it. Starts only at a word's start
# (the lookbehind), so each word is scanned a bounded number of times: linear in the text.
_CANDIDATE = re.compile(f"(?<![^{_SEPARATORS}])[^{_SEPARATORS}@./:]*[@./:][^{_SEPARATORS}]*")
_LEAD = ".,:;!?¡¿*'‘’=~>-–—·•" + _TRUNCATED
_TRAIL = ".,:;!?*'‘’=~–—"
_QUICK = re.compile(r"[@./:+]")  # a text without these holds no address (phones need "+")
_ADDRESS_MARK = re.compile(r"[@.:]")


def _clean(text) -> str:
    """Text as it is matched: capped, no invisible or control characters, NFKC (fullwidth ＠,
    mathematical bold letters and the like read as plain ones)."""
    if not isinstance(text, str) or not text:
        return ""
    text = _cut(text)
    if text.isascii():
        return _ASCII_CONTROL.sub(" ", text) if _ASCII_CONTROL.search(text) else text
    text = _CONTROL.sub(" ", _INVISIBLE.sub("", text))
    if "\u2026" in text:
        text = text.replace("\u2026", _TRUNCATED)
    if _X_LOGO in text:
        text = text.replace(_X_LOGO, " \U0001F426 ")
    if not text.isascii():
        text = _cut(_CONTROL.sub(" ", _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))))
    return text


def _cut(text: str) -> str:
    """At most MAX_TEXT characters, ending at a separator: a cut "ana@gmail.com" must not
    become the valid "ana@gmail.co"."""
    if len(text) <= MAX_TEXT:
        return text
    text = text[:MAX_TEXT]
    for i in range(len(text) - 1, max(len(text) - MAX_TOKEN, 0) - 1, -1):
        if _TOKEN.match(text, i) is None:  # a separator
            return text[:i]
    return text  # the last word is longer than MAX_TOKEN: it is skipped anyway


def _strip_invisible(s: str) -> str:
    """A single value as written (an address in a link field): invisible characters removed."""
    return s if s.isascii() and not _ASCII_CONTROL.search(s) else _CONTROL.sub(" ", _INVISIBLE.sub("", s))


# -- labels: "X: @ana", "🐘 ana@host", field "Bluesky" ---------------------------------------------

_WORD_LABELS = {
    "twitter": "x", "twtr": "x", "x.com": "x", "twitter.com": "x", "\U0001F426": "x", "\U0001F424": "x",
    "mastodon": "mastodon", "masto": "mastodon", "fedi": "mastodon", "fediverse": "mastodon",
    "\U0001F418": "mastodon", "toot": "mastodon", "activitypub": "mastodon",
    "bluesky": "bluesky", "bsky": "bluesky", "\U0001F98B": "bluesky",
    "instagram": "instagram", "insta": "instagram", "\U0001F4F8": "instagram", "\U0001F4F7": "instagram",
    "threads": "threads", "github": "github", "tiktok": "tiktok", "youtube": "youtube",
    "substack": "substack", "linkedin": "linkedin",
    "email": "email", "e-mail": "email", "mail": "email", "courriel": "email", "correo": "email",
    "\u2709": "email", "\U0001F4E7": "email", "\U0001F4E8": "email", "\U0001F4E9": "email",
}
# Too short or common to be a label unless followed by a colon ("X: @ana", "IG: @ana").
_COLON_LABELS = {"x": "x", "tw": "x", "ig": "instagram", "gh": "github", "yt": "youtube", "tt": "tiktok", "li": "linkedin"}
_LABEL_EDGE = " .:;-–—=>→»*·•'\"#"
_LABEL_SPLIT = re.compile(r"[/&+]")
_NO_LABEL: frozenset[str] = frozenset()


def _label(word: str, colon: bool) -> frozenset[str] | None:
    """The platforms a label word names ("X/Twitter:" -> {"x"}), or None if it is no label."""
    w = word.strip(_LABEL_EDGE).lower()
    if not w or len(w) > 40:
        return None
    one = _WORD_LABELS.get(w) or (_COLON_LABELS.get(w) if colon else None)
    if one:
        return frozenset((one,))
    if _LABEL_SPLIT.search(w):
        parts = [p for p in _LABEL_SPLIT.split(w) if p]
        names = {_WORD_LABELS.get(p) or _COLON_LABELS.get(p) for p in parts}
        if parts and None not in names:
            return frozenset(names)
    return None


def _field_label(name: str) -> frozenset[str]:
    """The platforms a Mastodon field's name names ("X (Twitter)", "My Bluesky", "E-mail")."""
    found: set[str] = set()
    for word in _TOKEN.findall(_clean(name)[:MAX_FIELD_NAME]):
        found |= _label(word, colon=True) or _NO_LABEL
    return frozenset(found)


def _split_glued(tok: str) -> tuple[frozenset[str] | None, str]:
    """A label glued to its value: "X:@ana", "mastodon:ana@host", "🐘@ana@host"."""
    i = 0
    while i < len(tok) and not (tok[i].isalnum() or tok[i] in "@+/._-"):
        i += 1
    if i:
        return _label(tok[:i], colon=True), tok[i:]
    head, colon, rest = tok.partition(":")
    if colon and rest and not rest.startswith("//") and head.lower() not in ("http", "https", "mailto", "tel", "did"):
        label = _label(head, colon=True)
        if label:
            return label, rest
    return None, tok


# -- hosts and URLs ------------------------------------------------------------------------------

_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_CONFUSABLE_SCRIPTS = frozenset({"CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC"})
# Letters of those scripts that look like Latin ones: a label made only of these (and digits,
# hyphens) under a Latin top-level domain is a whole-script homograph (xn--80ak6aa92e.com).
_LOOKALIKES = frozenset("аеорсухіјѕһԁԛԝӏьүѵвкмнтгпοανιρυκϲϳεηχτβζ0123456789-")


def _homograph(unicode_host: str) -> bool:
    labels = unicode_host.split(".")
    latin_tld = labels[-1].isascii()
    for label in labels:
        if label.isascii():
            continue
        scripts = {unicodedata.name(ch, "?").split(" ", 1)[0] for ch in label if ch.isalpha()}
        if len(scripts) > 1 and scripts & _CONFUSABLE_SCRIPTS:
            return True  # mixed scripts in one label: twіtter (Cyrillic і)
        if latin_tld and scripts & _CONFUSABLE_SCRIPTS and all(ch in _LOOKALIKES for ch in label):
            return True
    return False


def _norm_host(host: str) -> str | None:
    """A DNS host name, lower-case IDNA ASCII; None for IP addresses, single labels, homographs."""
    h = host.rstrip(".")
    if not h or len(h) > 4 * MAX_DOMAIN:
        return None
    try:
        if h.isascii():
            h = h.lower()
            if "xn--" in h and _homograph(idna.decode(h)):
                return None
        else:
            h = idna.encode(h, uts46=True).decode("ascii").rstrip(".")
            if _homograph(idna.decode(h)):
                return None
    except ValueError:  # idna.IDNAError, UnicodeError: not a valid internationalized name
        return None
    labels = h.split(".")
    if len(labels) < 2 or len(h) > MAX_DOMAIN:
        return None
    for label in labels:
        if not _HOST_LABEL.fullmatch(label):
            return None
    tld = labels[-1]
    if not (tld.isalpha() or tld.startswith("xn--")):
        return None  # 192.168.0.1, a.b.123
    return h


def _in_hosts(host: str, hosts: frozenset[str]) -> str | None:
    """The member of ``hosts`` that ``host`` is or is a subdomain of."""
    labels = host.split(".")
    for i in range(len(labels) - 1):
        parent = ".".join(labels[i:])
        if parent in hosts:
            return parent
    return None


class _Url(NamedTuple):
    scheme: str
    host: str  # normalized
    port: str  # "" when default
    path: str  # percent-encoded, "" for the root
    query: str  # trackers removed
    credentials: bool  # the written URL had user:pass@

    def text(self) -> str:
        port = f":{self.port}" if self.port else ""
        query = f"?{self.query}" if self.query else ""
        return f"{self.scheme}://{self.host}{port}{self.path}{query}"


_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = "/%:@!$'()*+,;=-._~?"
_URL_FORBIDDEN = re.compile(r"[\s<>\"{}|\\^`\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _split_url(s: str) -> _Url | None:
    s = s.strip()
    if not s or len(s) > 2 * MAX_URL or _URL_FORBIDDEN.search(s):
        return None
    head = s[:8].lower()
    scheme_less = False
    if head.startswith("https://"):
        scheme, rest = "https", s[8:]
    elif head.startswith("http://"):
        scheme, rest = "http", s[7:]
    elif s.startswith("//"):
        scheme, rest = "https", s[2:]
    elif "://" in s:
        return None  # ftp://, javascript://
    else:
        scheme, rest, scheme_less = "https", s, True  # only called for things that are clearly URLs
    end = len(rest)
    for ch in "/?#":
        i = rest.find(ch)
        if i != -1 and i < end:
            end = i
    authority, tail = rest[:end], rest[end:]
    if "@" in authority and scheme_less:
        return None  # "mailto:ana@ana.dev", "ana:pw@ana.dev": not written as a web address
    hostport = authority.rpartition("@")[2]
    host, _, port = hostport.partition(":")
    if port:
        if not (port.isascii() and port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536):
            return None
        port = str(int(port))
        if port == _DEFAULT_PORTS[scheme]:
            port = ""
    host = _norm_host(host)
    if host is None:
        return None
    tail = tail.partition("#")[0]
    path, _, query = tail.partition("?")
    path = quote(path, safe=_PATH_SAFE)
    if path == "/":
        path = ""
    kept = []
    for piece in query.split("&"):
        if not piece:
            continue
        key = unquote_plus(piece.partition("=")[0]).lower()
        if key.startswith("utm_") or key in _TRACKERS:
            continue
        kept.append(quote(piece, safe=_QUERY_SAFE))
    url = _Url(scheme, host, port, path, "&".join(kept), "@" in authority)
    return url if len(url.text()) <= MAX_URL else None


def normalize_url(s) -> str | None:
    """A web address in one form, or None when it is not an http(s) address of a DNS name.

    https is assumed when the scheme is missing (call this only for things that are URLs);
    credentials, the fragment, a default port, the root's slash and tracking parameters go.

    >>> normalize_url("HTTPS://user:pw@Bücher.example:443/café/?utm_source=x&id=7&fbclid=1#top")
    'https://xn--bcher-kva.example/caf%C3%A9/?id=7'
    >>> normalize_url("ana.dev/"), normalize_url("ftp://ana.dev"), normalize_url("http://10.0.0.1")
    ('https://ana.dev', None, None)
    """
    if not isinstance(s, str):
        return None
    url = _split_url(_strip_invisible(s))
    return url.text() if url else None


def is_shared_host(url_or_host: str) -> bool:
    """True when the address is on a host that is never one person's website (SHARED_HOSTS).

    >>> is_shared_host("https://linktr.ee/ana"), is_shared_host("ana.substack.com"), is_shared_host("substack.com")
    (True, False, True)
    """
    if not isinstance(url_or_host, str):
        return False
    if "/" in url_or_host or ":" in url_or_host:
        url = _split_url(_strip_invisible(url_or_host))
        host = url.host if url else None
    else:
        host = _norm_host(_strip_invisible(url_or_host).strip())
    if host is None:
        return False
    host = host.removeprefix("www.")
    if host in SHARED_HOSTS:
        return True
    parent = _in_hosts(host, SHARED_HOSTS)
    return parent is not None and parent not in _OWN_SUBDOMAINS


# -- emails and phones ---------------------------------------------------------------------------


def normalize_email(s) -> str | None:
    """An address in one form (lower-cased, IDN domain in Unicode), or None if it is not one.

    Syntax only (email-validator, no DNS). Lower-casing the local part as well follows the
    rest of audience (newsletter imports and the suppression list compare lower-cased).

    >>> normalize_email("mailto:Ana.Lovelace@Bücher.EXAMPLE?subject=hi"), normalize_email("ana@localhost")
    ('ana.lovelace@bücher.example', None)
    """
    if not isinstance(s, str):
        return None
    s = _strip_invisible(s).strip()
    if s[:7].lower() == "mailto:":
        s = s[7:].partition("?")[0]
    if not s or len(s) > MAX_EMAIL or s.count("@") != 1:
        return None
    if _norm_host(s.partition("@")[2]) is None:
        return None  # an IP, a single label, a homograph (gmаil.com with a Cyrillic а)
    try:
        value = validate_email(s, check_deliverability=False).normalized.lower()
        # Unicode lower-casing can make what the validator would write differently: keep only
        # fixed points, so that normalizing twice changes nothing.
        if not value.isascii() and validate_email(value, check_deliverability=False).normalized.lower() != value:
            return None
    except EmailNotValidError:
        return None
    return value


def _region(region) -> str | None:
    if not isinstance(region, str):
        return None
    region = region.strip().upper()
    return region if region in phonenumbers.SUPPORTED_REGIONS else None


def normalize_phone(s, region: str | None = None) -> str | None:
    """A phone number in E.164, or None unless phonenumbers parses it and calls it valid.

    Without a region only international numbers (``+44 …``) parse; with one (``"GB"``), the
    region's national numbers too.

    >>> normalize_phone("+44 (0)20 7946 0958"), normalize_phone("020 7946 0958"), normalize_phone("020 7946 0958", "GB")
    ('+442079460958', None, '+442079460958')
    """
    if not isinstance(s, str):
        return None
    s = _strip_invisible(s).strip()
    if s[:4].lower() == "tel:":
        s = s[4:]
    if not s or len(s) > 64:
        return None
    region = _region(region)
    if region is None and not s.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(s, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# A run that may be a phone number: bounded repetition after a fixed start, so each start
# position costs at most ~25 steps. International numbers only unless a region is set.
_PHONE_INTL = re.compile(r"(?<![\w+])\+ ?\d[\d ().\-/]{5,22}\d(?!\w)")
_PHONE_ANY = re.compile(r"(?<![\w+])(?:\+ ?)?\(?\d[\d ().\-/]{5,22}\d(?!\w)")
_DATEISH = re.compile(r"\d{1,4}([./-])\d{1,2}\1\d{1,4}|\d{4} ?[-/] ?\d{4}")


# -- handles -------------------------------------------------------------------------------------

_NAME_RULES = {
    "x": re.compile(r"[a-z0-9_]{1,15}"),
    "github": re.compile(r"[a-z0-9](?:-?[a-z0-9]){0,38}"),
    "instagram": re.compile(r"[a-z0-9_](?:[a-z0-9_.]{0,28}[a-z0-9_])?"),
    "threads": re.compile(r"[a-z0-9_](?:[a-z0-9_.]{0,28}[a-z0-9_])?"),
    "tiktok": re.compile(r"[a-z0-9_](?:[a-z0-9_.]{0,22}[a-z0-9_])?"),
}
_FEDI_USER = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]{0,98}[a-z0-9_])?")  # dots: brid.gy's @ana.dev@ana.dev
_YOUTUBE_HANDLE = re.compile(r"@[a-z0-9_.-]{3,30}")
_YOUTUBE_CHANNEL = re.compile(r"channel/UC[A-Za-z0-9_-]{22}")
_YOUTUBE_LEGACY = re.compile(r"(?:c|user)/[a-z0-9_.-]{1,100}")
_SUBSTACK = re.compile(r"@?[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?")
_DID = re.compile(r"did:plc:[a-z2-7]{24}")
_LINKEDIN_EXTRA = frozenset("-_.'’~")


def _bluesky_name(name: str) -> str | None:
    if name.startswith("did:plc:"):
        return name if _DID.fullmatch(name) else None
    if name.startswith("did:web:"):
        host = name[8:]
        return name if host.isascii() and _norm_host(host) == host else None
    if not name.isascii():
        return None
    host = _norm_host(name)
    if host != name or host.rpartition(".")[2] in _BAD_HANDLE_TLDS:
        return None
    return name


def _canonical(platform: str, ident: str) -> str | None:
    if not ident or len(ident) > MAX_NAME + 1 + MAX_DOMAIN:
        return None
    if platform in _NAME_RULES:
        name = ident.removeprefix("@").lower()
        return name if len(name) <= MAX_NAME and _NAME_RULES[platform].fullmatch(name) else None
    if platform == "mastodon":
        user, at, host = ident.removeprefix("@").partition("@")
        user = user.lower()
        if not at or len(user) > MAX_NAME or not _FEDI_USER.fullmatch(user):
            return None
        host = _norm_host(host)
        if host is None or _in_hosts(host, _NOT_FEDIVERSE):
            return None
        return f"{user}@{host}"
    if platform == "bluesky":
        return _bluesky_name(ident.removeprefix("@").lower())
    if platform == "youtube":
        if ident.startswith("channel/"):
            return ident if _YOUTUBE_CHANNEL.fullmatch(ident) else None  # ids are case-sensitive
        name = ident.lower()
        return name if _YOUTUBE_HANDLE.fullmatch(name) or _YOUTUBE_LEGACY.fullmatch(name) else None
    if platform == "substack":
        name = ident.lower()
        return name if _SUBSTACK.fullmatch(name) and name not in _SUBSTACK_RESERVED else None
    if platform == "linkedin":
        slug = ident.lower()  # as backup.importers.linkedin keys profiles: unquoted, lower-case
        if not 3 <= len(slug) <= MAX_NAME or not all(ch.isalnum() or ch in _LINKEDIN_EXTRA for ch in slug):
            return None
        return slug
    return None


def normalize_handle(value) -> str | None:
    """``platform:identifier`` in its one form, or None when the identifier cannot be one there.

    >>> normalize_handle("mastodon:@Ana@Mastodon.Social"), normalize_handle("x:@Ana_Pro"), normalize_handle("x:ana.pro")
    ('mastodon:ana@mastodon.social', 'x:ana_pro', None)
    """
    if not isinstance(value, str):
        return None
    platform, colon, ident = _strip_invisible(value).strip().partition(":")
    platform = platform.lower()
    if not colon:
        return None
    ident = _canonical(platform, ident.strip())
    return f"{platform}:{ident}" if ident else None


_X_RESERVED = frozenset({
    "home", "explore", "notifications", "messages", "i", "intent", "search", "settings", "compose",
    "login", "logout", "signup", "tos", "privacy", "hashtag", "share", "about", "download",
    "account", "jobs", "lists", "help", "home.php",
})
_GITHUB_RESERVED = frozenset({
    "about", "orgs", "features", "sponsors", "topics", "marketplace", "settings", "explore",
    "pricing", "login", "join", "collections", "trending", "apps", "enterprise", "security",
    "site", "contact", "notifications", "issues", "pulls", "new", "organizations",
    "customer-stories", "readme", "team", "codespaces", "discussions", "events", "logout",
    "signup", "search", "users", "dashboard", "stars", "watching", "mobile", "nonprofit",
    "education", "resources", "solutions", "sessions", "home", "copilot", "blog",
})
_INSTAGRAM_RESERVED = frozenset({
    "p", "reel", "reels", "explore", "stories", "accounts", "direct", "tv", "about", "developer",
    "legal", "web", "challenge", "emails", "session", "privacy", "terms", "ar",
})
_SUBSTACK_RESERVED = frozenset({"www", "on", "open", "api", "support", "cdn", "help", "substack", "read", "reader", "email"})
_SUBSTACK_ROOT_PATHS = ((), ("about",), ("archive",), ("subscribe",))
_PLATFORM_HOSTS = frozenset({
    "x.com", "twitter.com", "github.com", "instagram.com", "threads.net", "threads.com",
    "tiktok.com", "youtube.com", "linkedin.com", "bsky.app", "substack.com", "bsky.social",
})


def _handle(platform: str, ident: str) -> str | None:
    ident = _canonical(platform, ident)
    return f"{platform}:{ident}" if ident else None


def _handle_from(url: _Url) -> str | None:
    """The profile a parsed URL names, or None (a post, a repository, a home page)."""
    host = url.host
    for prefix in ("www.", "m.", "mobile."):
        if host.startswith(prefix):
            host = host[len(prefix):]
            break
    segs = tuple(unquote(s) for s in url.path.split("/") if s)
    first = segs[0] if segs else ""
    if host in ("x.com", "twitter.com"):
        if len(segs) == 1 and first.lower() not in _X_RESERVED:
            return _handle("x", first)
        if segs in (("intent", "user"), ("intent", "follow")):
            for piece in url.query.split("&"):
                key, _, value = piece.partition("=")
                if key == "screen_name":
                    return _handle("x", unquote(value))
        return None
    if host == "github.com":
        return _handle("github", first) if len(segs) == 1 and first.lower() not in _GITHUB_RESERVED else None
    if host == "instagram.com":
        if len(segs) == 1 and first.lower() not in _INSTAGRAM_RESERVED:
            return _handle("instagram", first)
        return _handle("instagram", segs[1]) if len(segs) == 2 and first == "_u" else None
    if host in ("threads.net", "threads.com", "tiktok.com"):
        platform = "tiktok" if host == "tiktok.com" else "threads"
        return _handle(platform, first) if len(segs) == 1 and first.startswith("@") else None
    if host == "youtube.com":
        if len(segs) == 1 and first.startswith("@"):
            return _handle("youtube", first)
        return _handle("youtube", f"{first}/{segs[1]}") if len(segs) == 2 and first in ("channel", "c", "user") else None
    if host == "linkedin.com" or host.endswith(".linkedin.com"):
        return _handle("linkedin", segs[1]) if len(segs) >= 2 and first.lower() == "in" else None
    if host == "bsky.app":
        return _handle("bluesky", segs[1]) if len(segs) == 2 and first == "profile" else None
    if host.endswith(".bsky.social"):
        return _handle("bluesky", host) if not segs else None
    if host == "substack.com":
        return _handle("substack", first) if len(segs) == 1 and first.startswith("@") else None
    if host == "open.substack.com":
        return _handle("substack", segs[1]) if len(segs) == 2 and first == "pub" else None
    if host.endswith(".substack.com"):
        sub = host[: -len(".substack.com")]
        if "." not in sub and tuple(s.lower() for s in segs) in _SUBSTACK_ROOT_PATHS:
            return _handle("substack", sub)
        return None
    if host in _PLATFORM_HOSTS or _in_hosts(url.host, _NOT_FEDIVERSE):
        return None
    # Mastodon and compatible servers: /@user, /web/@user, /@user@other.host, /users/user.
    if first == "web" and len(segs) == 2:
        segs = segs[1:]
        first = segs[0]
    if len(segs) == 1 and first.startswith("@"):
        user, at, other = first[1:].partition("@")
        return _handle("mastodon", f"{user}@{other if at else url.host}")
    if len(segs) == 2 and first == "users" and not segs[1].isdigit():
        return _handle("mastodon", f"{segs[1]}@{url.host}")
    return None


def handle_from_url(url) -> str | None:
    """The ``platform:identifier`` a profile address names, or None.

    URLs with credentials name nobody (``https://x.com@evil.example/ana`` is evil.example's).

    >>> handle_from_url("https://mastodon.social/@Ana"), handle_from_url("twitter.com/ana_pro?s=20")
    ('mastodon:ana@mastodon.social', 'x:ana_pro')
    >>> handle_from_url("https://www.linkedin.com/in/Ana-Lovelace/"), handle_from_url("https://x.com/ana/status/1")
    ('linkedin:ana-lovelace', None)
    """
    if not isinstance(url, str):
        return None
    parsed = _split_url(_strip_invisible(url))
    if parsed is None or parsed.credentials:
        return None
    return _handle_from(parsed)


NAMED_BY_ID = frozenset({"mastodon", "bluesky", "instagram", "tiktok", "threads"})  # platform_id is a name


def own_handles(platform: str, platform_id: str, handle: str | None = None, url: str | None = None) -> set[str]:
    """The handle values that are this very profile, so that "A names B" can be matched
    against B, and A naming itself is not a contact.

    >>> sorted(own_handles("mastodon", "https://social.example/users/ada", "ada@example.org", "https://social.example/@ada"))
    ['mastodon:ada@example.org', 'mastodon:ada@social.example']
    >>> sorted(own_handles("bluesky", "did:plc:abcdefghijklmnopqrstuvwx", "ana.bsky.social"))
    ['bluesky:ana.bsky.social', 'bluesky:did:plc:abcdefghijklmnopqrstuvwx']
    """
    platform = (platform or "").lower() if isinstance(platform, str) else ""
    found: set[str] = set()
    # X and GitHub key profiles by numeric id, which would read as a (different) user name.
    candidates = [handle, platform_id if platform in NAMED_BY_ID else None]
    for value in candidates:
        if isinstance(value, str) and value and "://" not in value:
            h = _handle(platform, _strip_invisible(value).strip())
            if h:
                found.add(h)
    for value in (url, platform_id):
        h = handle_from_url(value) if isinstance(value, str) and "/" in value else None
        if h and h.partition(":")[0] == platform:
            found.add(h)
    return found


# -- the scan ------------------------------------------------------------------------------------

_AT_PLATFORMS = frozenset({"x", "instagram", "threads", "tiktok", "github", "youtube", "substack"})
# Where "@name" in a bio is an account on the same platform (X, Instagram, Threads, TikTok
# link them so). Not GitHub ("@acme" there names an employer's organisation) and not Mastodon
# (a local mention whose server the plain text no longer shows).
_MENTION_PLATFORMS = frozenset({"x", "instagram", "threads", "tiktok"})


class _Out:
    """Found values of one profile, first source kept, each (kind, value) once."""

    def __init__(self, profile: tuple, region: str | None, platform: str):
        self.items: list[Found] = []
        self.index: dict[tuple[str, str], int] = {}
        self.profile = profile  # (platform, platform_id, handle, url): own_handles when needed
        self.own: set[str] | None = None
        self.region = region
        self.platform = platform

    def add(self, kind: str, value: str | None, source: str, verified: bool) -> bool:
        if value is None:
            return False
        if kind == "handle":
            if self.own is None:  # most profiles name no handle: parse their URLs only when one does
                self.own = own_handles(*self.profile)
            if value in self.own:
                return True  # the profile itself: recognised, not a contact
        verified = verified and kind in ("website", "handle")
        key = (kind, value)
        i = self.index.get(key)
        if i is None:
            if len(self.items) < MAX_FOUND:
                self.index[key] = len(self.items)
                self.items.append(Found(kind, value, source, verified))
        elif verified and not self.items[i].verified:
            self.items[i] = Found(kind, value, source, True)
        return True


class _Scan:
    """How one field is read, and where its findings go."""

    __slots__ = ("bare", "label", "link", "mentions", "out", "own_url", "source", "verified")

    def __init__(self, out: _Out, source: str, *, link: bool = False, label: frozenset[str] = _NO_LABEL,
                 verified: bool = False, mentions: bool = False, own_url: bool = False):
        self.out = out
        self.source = source
        self.link = link  # a link field: bare "ana.dev" is a website
        self.label = label  # a field's name: "Twitter" makes "ana_pro" x:ana_pro
        self.verified = verified
        self.mentions = mentions  # "@name" may be a mention on the profile's own platform
        self.own_url = own_url  # the profile's own address: shared hosts are not its website
        self.bare = False  # the whole value is one word under a label: "ana_pro" in a field "X"

    def add(self, kind: str, value: str | None) -> bool:
        return self.out.add(kind, value, self.source, self.verified)

    def url(self, text: str) -> bool:
        url = _split_url(text)
        if url is None:
            return False
        if not url.credentials:
            handle = _handle_from(url)
            if handle and self.own_url and handle.partition(":")[0] == self.out.platform:
                return True  # the profile's own address names the profile itself
            if handle:
                return self.add("handle", handle)
        elif is_shared_host(url.host):
            return False  # https://user:pw@twitter.com/ana: a disguise, not a link to keep
        if self.own_url and is_shared_host(url.host):
            return False
        return self.add("website", url.text())


def _clearly_url(host: str, rest: str) -> bool:
    """Is "host/rest" written without a scheme in free text a web address?"""
    host = host.lower().partition(":")[0]
    if host.startswith("www.") or rest.startswith(("/@", "/web/@")):
        return True
    if host in SHARED_HOSTS or _in_hosts(host, SHARED_HOSTS) or host in _PLATFORM_HOSTS:
        return rest.strip("/") != ""
    labels = host.split(".")
    return len(labels) >= 2 and labels[-1] in _COMMON_TLDS and all(len(label) >= 2 for label in labels)


def _is_mail_host(host: str) -> bool:
    if host in _MAIL_DOMAINS or _in_hosts(host, _MAIL_DOMAINS):
        return True
    labels = host.split(".")
    if labels[0] not in _MAIL_BRANDS:
        return False
    # hotmail.fr, yahoo.co.uk, yahoo.com.br; not web.example.org
    return len(labels) == 2 or (len(labels) == 3 and labels[1] in _SECOND_LEVEL and len(labels[2]) == 2)


def _user_at_host(user: str, host: str, labels: frozenset[str], sc: _Scan, leading: bool) -> bool:
    """``@user@host`` (leading) or ``user@host``: a fediverse account or an email address.

    An address at a mail provider, or after an email label, is an email; ``@user@host``, a
    known server, a server-looking name (mastodon.example, example.social) or a Mastodon label
    make a fediverse account; anything else is an email.
    """
    ascii_host = _norm_host(host)
    if ascii_host is None or not user:
        return False
    if _is_mail_host(ascii_host) or "email" in labels:
        return sc.add("email", normalize_email(f"{user}@{host}"))
    fedi = ascii_host in _KNOWN_INSTANCES or not _FEDI_WORDS.isdisjoint(ascii_host.split("."))
    if leading or fedi or "mastodon" in labels:
        if _in_hosts(ascii_host, _NOT_FEDIVERSE):
            return False if leading else sc.add("email", normalize_email(f"{user}@{host}"))
        return sc.add("handle", _handle("mastodon", f"{user}@{ascii_host}"))
    return sc.add("email", normalize_email(f"{user}@{host}"))


def _at_word(tok: str, labels: frozenset[str], sc: _Scan) -> bool:
    at = tok.count("@")
    if at > 2:
        return False  # @a@b@c
    for suffix in ("'s", "’s"):
        if tok.lower().endswith(suffix):
            tok = tok[:-2]
    if not tok.startswith("@"):
        if at == 2:
            return False  # a@b@c
        user, _, host = tok.partition("@")
        # "contact:ana@ana.dev", "E-Mail:ana@ana.dev": a colon cannot be in a bare local part
        return _user_at_host(user.rpartition(":")[2], host, labels, sc, leading=False)
    body = tok[1:]
    if at == 2:
        user, _, host = body.partition("@")
        return _user_at_host(user, host, labels, sc, leading=True)
    if not body:
        return False
    if "." in body:
        # Bluesky: name.bsky.social anywhere; a custom domain only where Bluesky is meant.
        # Otherwise a dotted name can still be Instagram's, Threads' or TikTok's ("IG: @ana.l").
        name = body.lower()
        if name.endswith(".bsky.social") or "bluesky" in labels or (not labels and sc.mentions and sc.out.platform == "bluesky"):
            return sc.add("handle", _handle("bluesky", name))
    platforms = labels & _AT_PLATFORMS
    if not labels and sc.mentions and sc.out.platform in _MENTION_PLATFORMS:  # "Mastodon: @ana" is no X mention
        platforms = frozenset((sc.out.platform,))
    hit = False
    for platform in sorted(platforms):
        ident = tok if platform in ("youtube", "substack") else body
        hit = sc.add("handle", _handle(platform, ident)) or hit
    return hit


def _classify(tok: str, labels: frozenset[str], sc: _Scan) -> bool:
    """Record what one word is; True when it was an address of some kind."""
    low = tok.lower()
    if low.startswith("mailto:"):
        return sc.add("email", normalize_email(tok))
    if low.startswith("tel:"):
        return sc.add("phone", normalize_phone(tok, sc.out.region))
    if low.startswith(("did:plc:", "did:web:")):
        return sc.add("handle", _handle("bluesky", low))
    if low.startswith(("http://", "https://", "//", "www.")):
        return sc.url(tok)
    scheme = max(low.find("http://"), low.find("https://"))
    if scheme > 0:  # "url:https://ana.dev", "href=https://…"
        return sc.url(tok[scheme:])
    slash = tok.find("/")
    if slash > 0 and "@" not in tok[:slash]:
        return (sc.link or _clearly_url(tok[:slash], tok[slash:])) and sc.url(tok)
    if "@" in tok:
        return _at_word(tok.rstrip("/"), labels, sc)
    if "." in tok:
        name = low.rstrip(".")
        if name.endswith(".bsky.social"):
            return sc.add("handle", _handle("bluesky", name))
        if name.endswith(".substack.com"):
            return sc.url(name)
        if "bluesky" in labels and sc.add("handle", _handle("bluesky", name)):
            return True
        return sc.link and sc.url(tok)
    if sc.bare and labels:  # a field named "GitHub" whose value is "ana"
        hit = False
        for platform in sorted(labels & (_AT_PLATFORMS | {"linkedin"})):
            ident = "@" + tok if platform in ("youtube",) and not tok.startswith("@") else tok
            hit = sc.add("handle", _handle(platform, ident)) or hit
        return hit
    return False


_LOOKBACK = 48  # characters before a value where its label can be


def _label_before(text: str, start: int) -> frozenset[str] | None:
    """The label just before a value: "Twitter @ana", "X: @ana", "Twitter - @ana", "X : @ana"."""
    if start == 0:
        return None
    lo = max(0, start - _LOOKBACK)
    words = _TOKEN.findall(text, lo, start)
    if lo > 0 and words and _TOKEN.match(text, lo - 1, lo + 1):
        words = words[1:]  # the first word is cut by the look-back window
    if not words:
        return None
    prev1 = words[-1]
    prev2 = words[-2] if len(words) > 1 else ""
    label = _label(prev1, colon=prev1.endswith(":"))
    if label is None and prev2 and not any(ch.isalnum() for ch in prev1):
        label = _label(prev2, colon=prev2.endswith(":") or prev1.startswith(":"))
    return label


def _scan(text, sc: _Scan) -> None:
    text = _clean(text)
    if not text:
        return
    region = sc.out.region
    if not sc.label and region is None and _QUICK.search(text) is None:
        return  # the common case: a bio without any address-like character
    sc.bare = bool(sc.label) and _TOKEN.fullmatch(text.strip()) is not None
    taken: list[tuple[int, int]] = []  # spans that were addresses: no phone numbers inside
    budget = MAX_CANDIDATES
    # Only words that can hold an address are looked at (found in C, not word by word); the
    # label before one ("Mastodon:", "🐘", "Twitter -") is read back from the text.
    matches = _TOKEN.finditer(text) if sc.bare else _CANDIDATE.finditer(text)
    for match in matches:
        raw = match.group()
        if len(raw) > MAX_TOKEN:
            continue
        glued, tok = _split_glued(raw)
        tok = tok.lstrip(_LEAD).rstrip(_TRAIL)
        if _TRUNCATED in tok:
            if tok.endswith(_TRUNCATED):
                continue  # "ana.dev/blo…": a shortened display, not the address
            tok = tok.rpartition(_TRUNCATED)[2].lstrip(_LEAD)  # "see…https://ana.dev"
        # Every address has a dot (a host), an @ or a scheme's colon: "Lisbon." and "she/her" not.
        if not tok or not (sc.bare or _ADDRESS_MARK.search(tok)):
            continue
        if _label(raw, colon=raw.endswith(":")) is not None:
            continue  # a label word: "x.com", "X/Twitter"
        budget -= 1
        if budget < 0:
            break
        labels = glued or _label_before(text, match.start()) or sc.label
        if _classify(tok, labels, sc) or "@" in tok or "://" in tok:
            taken.append(match.span())
    if region is not None or "+" in text:
        _scan_phones(text, taken, sc)


def _scan_phones(text: str, taken: list[tuple[int, int]], sc: _Scan) -> None:
    if taken:
        pieces, start = [], 0
        for a, b in taken:
            pieces.append(text[start:a])
            start = b
        pieces.append(text[start:])
        text = "\n".join(pieces)
    region = sc.out.region
    pattern = _PHONE_INTL if region is None else _PHONE_ANY
    tried = 0
    for match in pattern.finditer(text):
        candidate = match.group()
        digits = sum(ch.isdigit() for ch in candidate)
        if not 7 <= digits <= 17 or (candidate[0] != "+" and _DATEISH.fullmatch(candidate)):
            continue
        tried += 1
        if tried > MAX_PHONE_CANDIDATES:
            break
        sc.add("phone", normalize_phone(candidate, region))


def _data(data) -> dict:
    if isinstance(data, dict):
        return data
    if isinstance(data, (str, bytes)) and data:
        try:
            value = json.loads(data)
        except (ValueError, RecursionError):
            return {}
        return value if isinstance(value, dict) else {}
    return {}


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value[:MAX_LIST] if isinstance(v, str)]
    return []


def _field_source(name) -> str:
    name = " ".join(_clean(name if isinstance(name, str) else "").split())[:MAX_FIELD_NAME]
    return f"field:{name}" if name else "field"


def extract(
    platform: str,
    platform_id: str,
    handle: str | None,
    display_name: str | None,
    url: str | None,
    bio: str | None,
    website: str | None,
    data: dict | str | None,
    *,
    region: str | None = None,
) -> list[Found]:
    """Every contact point in one profile, deduplicated, in the order found (see the module
    docstring for the forms). ``data`` may be the dict or its JSON text; ``region`` is the
    phone region for national numbers (None: only ``+`` numbers). Never raises on bad input.

    >>> extract("mastodon", "https://m.example/users/bo", "bo@m.example", "Bo", None,
    ...         "tea: @bo@gmail.com", None, {"fields": [{"name": "GitHub", "value": "bo-dev",
    ...         "verified_at": "2024-01-01T00:00:00Z"}]})  # doctest: +NORMALIZE_WHITESPACE
    [Found(kind='handle', value='github:bo-dev', source='field:GitHub', verified=True),
     Found(kind='email', value='bo@gmail.com', source='bio', verified=False)]
    """
    platform = platform.lower() if isinstance(platform, str) else ""
    platform_id = platform_id if isinstance(platform_id, str) else ""
    out = _Out((platform, platform_id, handle, url), _region(region), platform)
    mentions = platform in _MENTION_PLATFORMS or platform == "bluesky"

    if website:
        _scan(website, _Scan(out, "website", link=True))
    extras = _data(data) if data else {}
    if extras:
        _scan_data(extras, out)
    if url and not _is_own_address(platform, platform_id, url):
        _scan(url, _Scan(out, "url", link=True, own_url=True))
    if display_name:
        _scan(display_name, _Scan(out, "display_name", mentions=mentions))
    if bio:
        _scan(bio, _Scan(out, "bio", mentions=mentions))
    for key in ("location", "note") if extras else ():
        for text in _strings(extras.get(key)):
            _scan(text, _Scan(out, f"data:{key}", mentions=mentions and key == "location"))
    return out.items


# Where a platform serves its profiles: a URL under one of these is the profile itself, and is
# not read for contacts (it would only name the profile; parsing it is a third of the work).
_SELF_PREFIXES = {
    "x": ("https://x.com/", "https://twitter.com/"),
    "bluesky": ("https://bsky.app/profile/",),
    "github": ("https://github.com/",),
    "instagram": ("https://www.instagram.com/", "https://instagram.com/"),
    "tiktok": ("https://www.tiktok.com/@", "https://tiktok.com/@"),
    "linkedin": ("https://www.linkedin.com/in/", "https://linkedin.com/in/"),
}


def _is_own_address(platform: str, platform_id: str, url) -> bool:
    if not isinstance(url, str):
        return False
    if platform == "mastodon":  # the account URI and its page are on the same server
        return platform_id.startswith("https://") and url.startswith(platform_id[: platform_id.find("/", 8) + 1] or "-")
    prefixes = _SELF_PREFIXES.get(platform)
    return prefixes is not None and url.startswith(prefixes) and "@" not in url.partition("://")[2].partition("/")[0]


def _scan_data(extras: dict, out: _Out) -> None:
    """The link-like extras, most trusted first: verified links, profile fields, links."""
    for link in _strings(extras.get("verified_links")):
        _scan(link, _Scan(out, "data:verified_links", link=True, verified=True))
    fields = extras.get("fields")
    for field in fields[:MAX_LIST] if isinstance(fields, list) else ():
        if isinstance(field, dict) and field.get("value"):
            name = field.get("name") if isinstance(field.get("name"), str) else ""
            _scan(field.get("value"), _Scan(out, _field_source(name), link=True, label=_field_label(name),
                                            verified=bool(field.get("verified_at"))))
    for key in ("website", "blog", "bio_links"):
        for link in _strings(extras.get(key)):
            _scan(link, _Scan(out, f"data:{key}", link=True))
    for value in _strings(extras.get("email")):
        out.add("email", normalize_email(value), "data:email", False)
    for value in _strings(extras.get("twitter_username")):
        out.add("handle", _handle("x", _strip_invisible(value).strip()), "data:twitter_username", False)
    for value in _strings(extras.get("moved")):
        moved = handle_from_url(value) if "/" in value else _handle("mastodon", _strip_invisible(value).strip())
        out.add("handle", moved, "data:moved", False)
