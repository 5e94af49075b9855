"""The public winner list of the publish date: keyed group pseudonyms, nothing personal."""

from __future__ import annotations

import hashlib
import hmac
import html
import unicodedata
from pathlib import Path

from grouprebate.config import CampaignConfig, ConfigError
from grouprebate.publish.draw import draw_seed, seed_digest
from grouprebate.publish.files import csv_bytes, json_bytes, write_once
from grouprebate.warehouse.marts import Query


def pseudonym(key: str, group_id: str) -> str:
    """Keyed pseudonym of a group: HMAC-SHA256(key, group_id), hex. No key, no pseudonym:
    an empty key would make every pseudonym computable by anyone."""
    if not key:
        raise ConfigError("the pseudonym key is empty: set the variable that "
                          "publish.pseudonym_key_env names before publishing")
    return hmac.new(key.encode("utf-8"), group_id.encode("utf-8"), hashlib.sha256).hexdigest()


def publish_winner_list(query: Query, config: CampaignConfig, key: str, out: Path) -> Path:
    """The public list: group pseudonyms only, no user ids, no purchases, no amounts.

    Red packets are left out on purpose: a packet is the group's total spend,
    which for a small group comes close to revealing what each person bought.
    """
    rows = query("select group_id, member_count_at_draw_open from marts.winner_list", [])
    winners = sorted(
        ({"group_pseudonym": pseudonym(key, g), "member_count": int(m)} for g, m in rows),
        key=lambda w: w["group_pseudonym"],
    )
    document = {
        "campaign_id": config.campaign_id,
        "published_on": config.publish_date.isoformat(),
        "draw_seed_sha256": seed_digest(draw_seed(config)),
        "winner_count": len(winners),
        "winners": winners,
    }
    path = out / "public" / f"winner_list_{config.campaign_id}.json"
    write_once(path, json_bytes(document))
    return path


# Spreadsheets read a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = frozenset("=+-@")
MASK = "***"
CSV_HEADER = ("group_pseudonym", "display_name", "member_count", "red_packet_fen")


def display_name(name: str | None) -> str:
    """A group's name with only its first and last visible character kept: enough for its
    members to recognise it, too little to identify it.

    Visible: a letter, digit, symbol or punctuation mark (no control, format or space
    character, no combining mark), and none that starts a spreadsheet formula. A name of
    two such characters keeps only the first, of one or none nothing.
    """
    shown = [c for c in unicodedata.normalize("NFC", name or "")
             if unicodedata.category(c)[0] in "LNPS" and c not in FORMULA_STARTS]
    if len(shown) >= 3:
        return f"{shown[0]}{MASK}{shown[-1]}"
    if len(shown) == 2:
        return f"{shown[0]}{MASK}"
    return MASK


def yuan(fen: int) -> str:
    """Integer fen as CNY for people, by integer arithmetic: 123456 -> '¥1,234.56'."""
    whole, cents = divmod(fen, 100)
    return f"¥{whole:,}.{cents:02d}"


def publish_readable_winner_list(
    query: Query, config: CampaignConfig, key: str, out: Path
) -> tuple[Path, Path]:
    """The list for people, as CSV and as a static HTML page: pseudonym, masked name and
    member count per winner, and the red packet only for groups of at least
    publish.red_packet_min_members members. Same winners and order as the JSON list."""
    rows = query(
        "select w.group_id, w.member_count_at_draw_open, w.red_packet_fen, g.group_name "
        "from marts.winner_list as w left join marts.dim_groups as g on g.group_id = w.group_id",
        [],
    )
    winners = sorted(
        (pseudonym(key, g), display_name(name), int(m),
         int(p) if int(m) >= config.red_packet_min_members else None)
        for g, m, p, name in rows
    )
    folder = out / "public"
    stem = f"winner_list_{config.campaign_id}"
    csv_path, html_path = folder / f"{stem}.csv", folder / f"{stem}.html"
    write_once(csv_path, csv_bytes(
        CSV_HEADER, [(s, n, m, "" if p is None else p) for s, n, m, p in winners]))
    write_once(html_path, winner_page(config, winners).encode("utf-8"))
    return csv_path, html_path


PAGE_STYLE = """
body { font-family: system-ui, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC",
       sans-serif; margin: 2rem auto; max-width: 60rem;
       padding: 0 1rem; color: #1b1b1b; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .4rem .6rem; text-align: left; }
td.num, th.num { text-align: right; }
code { font-size: .8rem; word-break: break-all; }
"""


def winner_page(config: CampaignConfig, winners: list[tuple[str, str, int, int | None]]) -> str:
    """A self-contained page: no script, no request at view time (its CSP forbids them),
    every value from the data HTML-escaped."""
    e = html.escape
    body = "\n".join(
        f"<tr><td><code>{e(s)}</code></td><td>{e(n)}</td><td class=\"num\">{m}</td>"
        f"<td class=\"num\">{e(yuan(p)) if p is not None else 'not shown'}</td></tr>"
        for s, n, m, p in winners
    )
    campaign = e(config.campaign_id)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Winning groups of {campaign}</title>
<style>{PAGE_STYLE}</style>
</head>
<body>
<h1>Winning groups of {campaign}</h1>
<p>Published on {config.publish_date.isoformat()}: {len(winners)} winning groups, each
shown by its keyed pseudonym and its name with all but the first and last character
masked. A red packet is shown only for groups of at least
{config.red_packet_min_members} members.</p>
<table id="winners">
<thead><tr><th scope="col">Group pseudonym</th><th scope="col">Name</th>
<th scope="col" class="num">Members</th><th scope="col" class="num">Red packet</th></tr></thead>
<tbody>
{body}
</tbody>
</table>
<p>The draw's seed was committed before the draw by its SHA-256,
<code>{e(seed_digest(draw_seed(config)))}</code>. Anyone can re-run the draw from its
audit bundle with <code>grouprebate verify-draw</code>.</p>
</body>
</html>
"""
