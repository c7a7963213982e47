"""The HTML page of the reports: one stylesheet and two Jinja2 templates (autoescaped).

The stylesheet is the page's only style: the Content-Security-Policy names it by its SHA-256
(``render._csp``), so no injected ``<style>`` or ``style=`` attribute would apply even if one
got through. No script, no font, no image, no request: system fonts and inline SVG only.
Every user string is wrapped in ``<bdi>`` so right-to-left names cannot reorder the sentence
around them. The layout is one column on a phone and a grid from 760 px up.
"""

CSS = """
:root{--bg:#f4f5f7;--card:#fff;--ink:#1d2230;--muted:#5d6474;--line:#e3e6ec;--track:#eceef2;
--t1:#1f9d6b;--t2:#3a6fe0;--t3:#e0a21b;--t4:#e0655a;--accent:#3a6fe0;--bad:#c23b30;--ok:#1f9d6b}
@media (prefers-color-scheme:dark){:root{--bg:#14161b;--card:#1d2028;--ink:#e8eaf0;--muted:#a0a6b4;
--line:#2c303a;--track:#2a2e38}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Noto Sans","Helvetica Neue",Arial,sans-serif}
main{max-width:980px;margin:0 auto;padding:20px 14px 40px}
header{padding:8px 4px 18px}
.eyebrow{margin:0;text-transform:uppercase;letter-spacing:.08em;font-size:12px;font-weight:600;color:var(--muted)}
h1{margin:4px 0 6px;font-size:28px;line-height:1.2;overflow-wrap:anywhere}
h2{margin:0 0 12px;font-size:18px}
h3{margin:0;font-size:16px;overflow-wrap:anywhere}
.meta{margin:0;color:var(--muted);font-size:14px}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:13px;font-weight:600;
background:var(--track);color:var(--muted);vertical-align:middle}
.badge.down{background:#fde4e1;color:var(--bad)}
.badge.active{background:#dff3ea;color:var(--ok)}
.card{background:var(--card);border:1px solid var(--line);border-radius:14px;padding:18px;margin:0 0 14px;
box-shadow:0 1px 2px rgba(20,25,40,.04)}
.hero{display:flex;flex-wrap:wrap;gap:18px;align-items:center}
.big{font-size:56px;font-weight:700;line-height:1;letter-spacing:-.02em}
.big small{font-size:20px;font-weight:600;color:var(--muted);letter-spacing:0;margin-left:6px}
.hero p{margin:6px 0 0;color:var(--muted);max-width:34em}
.hero .lead{flex:1 1 260px}
.grid{display:grid;grid-template-columns:1fr;gap:14px;margin:0 0 14px}
.grid .card{margin:0}
@media (min-width:760px){.grid{grid-template-columns:1fr 1fr}}
svg{display:block;max-width:100%}
svg.meter{display:inline-block;vertical-align:middle;margin-right:6px}
@media (max-width:560px){svg.meter{display:none}}
svg.bar{width:100%;height:18px;margin:14px 0 10px}
svg.history,svg.hbars{width:100%;height:auto}
svg .track{fill:var(--track)}
svg .t1,.t1{fill:var(--t1)} svg .t2{fill:var(--t2)} svg .t3{fill:var(--t3)} svg .t4{fill:var(--t4)}
svg .good{fill:var(--t1)} svg .fair{fill:var(--t3)} svg .poor{fill:var(--t4)}
svg .grid{stroke:var(--line);stroke-width:1}
svg .axis,svg .lbl,svg .val,svg .empty{fill:var(--muted);font-size:13px;font-family:inherit}
svg .lbl{fill:var(--ink)} svg .val{font-weight:600;fill:var(--ink)}
svg .last{fill:var(--ink);font-size:13px;font-weight:600;font-family:inherit}
svg .line{fill:none;stroke-width:2.5;stroke-linejoin:round;stroke-linecap:round}
svg .area{opacity:.12;stroke:none}
svg .line.s0{stroke:var(--accent)} svg .area.s0,svg .dot.s0{fill:var(--accent)}
svg .line.s1{stroke:var(--t3)} svg .area.s1,svg .dot.s1{fill:var(--t3)}
svg .line.s2{stroke:var(--t1)} svg .area.s2,svg .dot.s2{fill:var(--t1)}
svg .dot{stroke:var(--card);stroke-width:2}
.swatch{display:inline-block;vertical-align:-1px;margin-right:6px}
ul.legend{list-style:none;margin:0;padding:0;display:grid;grid-template-columns:1fr;gap:8px}
@media (min-width:560px){ul.legend{grid-template-columns:1fr 1fr}}
.legend li{display:grid;grid-template-columns:12px minmax(2.2em,auto) 1fr;gap:8px;align-items:baseline}
.legend .swatch{align-self:start;margin:7px 0 0}
.legend b{font-size:20px;text-align:right;font-variant-numeric:tabular-nums}
.legend span{color:var(--muted);font-size:14px}
.legend em{font-style:normal;font-weight:600;color:var(--ink)}
ol.steps{margin:0;padding-left:22px}
ol.steps li{margin:0 0 8px}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:8px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.bio{color:var(--muted);min-width:12em;overflow-wrap:anywhere}
td.who{overflow-wrap:break-word;min-width:8em}
@media (max-width:560px){.wide{display:none}}
td.who small{display:block;color:var(--muted)}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere;
background:var(--track);padding:1px 5px;border-radius:5px}
a{color:var(--accent);text-decoration:none}
a:hover{text-decoration:underline}
.accounts{display:grid;grid-template-columns:1fr;gap:14px}
@media (min-width:760px){.accounts{grid-template-columns:1fr 1fr}}
.accounts .card{margin:0}
.acct-head{display:flex;justify-content:space-between;align-items:baseline;gap:10px;flex-wrap:wrap}
.keep{margin:6px 0 0;color:var(--muted);font-size:14px}
.keep b{color:var(--ink)}
.pct{font-size:26px;font-weight:700}
.pct.good,.big.good{color:var(--t1)} .pct.fair,.big.fair{color:#b07b00} .pct.poor,.big.poor{color:var(--bad)}
.channels{margin:8px 0 0;font-size:13px;color:var(--muted)}
footer{color:var(--muted);font-size:13px;padding:6px 4px}
footer p{margin:0 0 6px}
"""

_HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{% block title %}{% endblock %}</title>
<style>{{ css }}</style>
</head>
"""

_MACROS = """
{% macro level(f) %}{{ 'good' if f is not none and f >= 0.6 else 'fair' if f is not none and f >= 0.3 else 'poor' }}{% endmacro %}
{% macro badge(status, since) %}{% if status != 'unknown' %}<span class="badge {{ 'down' if status in ('suspended', 'deactivated') else 'active' if status == 'active' else '' }}">{{ status_words(status, since) }}</span>{% endif %}{% endmacro %}
{% macro legend(tiers, audience) %}
<ul class="legend">
{% for key, label in tier_labels.items() %}
  <li>{{ charts.swatch(tier_classes[key]) }}<b>{{ tiers[key] | num }}</b><span><em>{{ label }}</em>: {{ tier_meaning[key] }}{% if audience %} ({{ (tiers[key] / audience) | pct }}){% endif %}</span></li>
{% endfor %}
</ul>
{% endmacro %}
{% macro tier_bar(tiers, label) %}{{ charts.stacked_bar([tiers.following_elsewhere, tiers.contactable, tiers.known_elsewhere, tiers.unreachable], label=label) }}{% endmacro %}
{% macro footer(doc) %}
<footer>
<p>{{ definitions }}</p>
<p>Generated by audience on {{ doc.generated_at | date('%Y-%m-%d %H:%M') }} UTC{% if doc.selection != 'everyone' %} for <bdi>{{ doc.selection | clean(200) }}</bdi>{% endif %}. This page makes no network request and contains personal data: keep it private.</p>
</footer>
{% endmacro %}
"""

RISK_TEMPLATE = _HEAD.replace("{% block title %}{% endblock %}", "Audience risk") + _MACROS + """
<body>
<main>
<header>
  <p class="eyebrow">audience · risk report</p>
  <h1>What would you keep?</h1>
  <p class="meta">{{ doc.accounts | length }} account{{ '' if doc.accounts | length == 1 else 's' }} · {{ doc.people | num }} people · {{ doc.generated_at | date('%Y-%m-%d %H:%M') }} UTC</p>
</header>
<section class="card hero">
  <div class="big {{ level(doc.overall_resilience) }}">{{ doc.overall_resilience | pct }}</div>
  <div class="lead">
    <h2>Overall resilience</h2>
    <p>Of {{ doc.audience | num }} followers, connections and subscribers across your accounts, {{ doc.reachable_elsewhere | num }} could still be reached if the account they follow were lost tonight.</p>
  </div>
</section>
{% if doc.accounts %}
<section class="card">
  <h2>If you lost it tonight, you would keep</h2>
  <div class="scroll"><table>
    <thead><tr><th>account</th><th class="n">audience</th><th class="n wide">elsewhere</th><th class="n wide">only here</th><th>resilience</th></tr></thead>
    <tbody>
    {% for a in doc.accounts %}
    <tr><td class="who"><bdi>{{ a.account | breakable }}</bdi>{% if a.status in ('suspended', 'deactivated') %} {{ badge(a.status, a.status_since) }}{% endif %}</td>
      <td class="n">{{ a.audience | num }}</td><td class="n wide">{{ a.reachable_elsewhere | num }}</td><td class="n wide">{{ a.only_here | num }}</td>
      <td class="n">{{ charts.meter(a.resilience) }} {{ a.resilience | pct }}</td></tr>
    {% endfor %}
    </tbody>
  </table></div>
</section>
<section class="accounts">
{% for a in doc.accounts %}
  <article class="card">
    <div class="acct-head"><h3><bdi>{{ a.account | clean }}</bdi></h3>{{ badge(a.status, a.status_since) }}</div>
    <p class="keep">{% if a.audience %}{{ 'You can still reach' if a.status in ('suspended', 'deactivated') else 'If you lost it tonight, you would keep' }} <b>{{ a.reachable_elsewhere | num }}</b> of <b>{{ a.audience | num }}</b>: <span class="pct {{ level(a.resilience) }}">{{ a.resilience | pct }}</span>{% else %}No audience stored yet.{% endif %}</p>
    {% if a.audience %}{{ tier_bar(a.tiers, 'tiers of ' ~ (a.account | clean)) }}{% endif %}
    {{ charts.history_chart(a.history, label='audience of ' ~ (a.account | clean) ~ ' over time', height=150) }}
    {% set ch = a.by_channel | dictsort %}
    <p class="channels">{% for k, v in ch if v %}{{ k }} {{ v | num }}{{ ' · ' if not loop.last }}{% else %}no other channel{% endfor %}</p>
  </article>
{% endfor %}
</section>
<section class="card" aria-label="legend">
  <h2>The tiers</h2>
  <ul class="legend">
  {% for key, label in tier_labels.items() %}<li>{{ charts.swatch(tier_classes[key]) }}<span><em>{{ label }}</em>: {{ tier_meaning[key] }}</span></li>{% endfor %}
  </ul>
</section>
{% else %}
<section class="card"><p>No accounts yet: add one with <code>audience accounts add</code> or import an export.</p></section>
{% endif %}
{{ footer(doc) }}
</main>
</body>
</html>
"""

RECOVERY_TEMPLATE = _HEAD.replace("{% block title %}{% endblock %}", "Recovery report: {{ doc.account | clean }}") + _MACROS + """
<body>
<main>
<header>
  <p class="eyebrow">audience · recovery report</p>
  <h1><bdi>{{ doc.account | clean }}</bdi></h1>
  <p class="meta">{% if doc.status == 'unknown' %}{{ status_words(doc.status, doc.status_since) }}{% else %}{{ badge(doc.status, doc.status_since) }}{% endif %}
  {% if doc.last_complete_snapshot %} · last complete snapshot {{ doc.last_complete_snapshot.as_of | date }}: {{ doc.last_complete_snapshot.count | num }} {{ doc.last_complete_snapshot.kind | kinds }} (#{{ doc.last_complete_snapshot.id }}){% else %}· no complete snapshot of its audience{% endif %}</p>
</header>
<section class="card">
  <div class="hero">
    <div class="big">{{ doc.reachable_elsewhere | num }}<small>of {{ doc.audience | num }}</small></div>
    <div class="lead">
      <h2>You can still reach {{ doc.reachable_fraction | pct }}</h2>
      <p>{% if doc.audience %}{{ doc.reachable_elsewhere | num }} of the {{ doc.audience | num }} people who followed <bdi>{{ doc.account | clean }}</bdi> can be found or written to elsewhere; {{ doc.tiers.unreachable | num }} only there.{% else %}No audience of this account is stored.{% endif %}</p>
    </div>
  </div>
  {{ tier_bar(doc.tiers, 'the audience in four tiers') }}
  {{ legend(doc.tiers, doc.audience) }}
</section>
<section class="grid">
  <article class="card">
    <h2>Audience over time</h2>
    {{ charts.history_chart(doc.history, label='audience of ' ~ (doc.account | clean) ~ ' over time') }}
  </article>
  <article class="card">
    <h2>Where to reach them</h2>
    {% set rows = [] %}
    {% for k, v in doc.by_channel | dictsort(by='value', reverse=true) if v %}{% set _ = rows.append((k, v, 't2' if k in ('email', 'phone') else 't1' if k == 'newsletter' else 't3')) %}{% endfor %}
    {% if rows %}{{ charts.hbars(rows, total=doc.audience, label='people reachable per channel') }}{% else %}<p class="meta">No other channel is known for anyone in this audience.</p>{% endif %}
  </article>
</section>
<section class="card">
  <h2>Next steps</h2>
  <ol class="steps">{% for step in doc.next_steps %}<li>{{ step | step }}</li>{% endfor %}</ol>
</section>
{% if doc.exports %}
<section class="card">
  <h2>Ready exports</h2>
  <p class="meta">In <code>{{ doc.exports_dir | clean(1000) }}</code></p>
  <div class="scroll"><table>
    <thead><tr><th>file</th><th>what</th><th class="n">rows</th></tr></thead>
    <tbody>{% for name, path in doc.exports.items() %}<tr><td><code>{{ path | basename | clean(200) }}</code></td><td>{{ export_words.get(name, name) }}</td><td class="n">{{ doc.export_rows.get(name) | num }}</td></tr>{% endfor %}</tbody>
  </table></div>
</section>
{% endif %}
{% if doc.top_unreachable %}
<section class="card">
  <h2>Only on {{ doc.platform | clean }}: the largest audiences first</h2>
  <div class="scroll"><table>
    {% set counts = doc.top_unreachable | rejectattr('followers_count', 'none') | list %}
    {% set bios = doc.top_unreachable | selectattr('bio') | list %}
    <thead><tr><th>who</th>{% if counts %}<th class="n">followers</th>{% endif %}{% if bios %}<th>bio</th>{% endif %}</tr></thead>
    <tbody>
    {% for m in doc.top_unreachable %}
    {% set link = m.url | url %}
    <tr><td class="who">{% if link %}<a href="{{ link }}" rel="noopener noreferrer nofollow"><bdi>{{ member_name(m) }}</bdi></a>{% else %}<bdi>{{ member_name(m) }}</bdi>{% endif %}{% if m.handle and m.display_name %}<small><bdi>{{ member_handle(m) }}</bdi></small>{% endif %}</td>
      {% if counts %}<td class="n">{{ m.followers_count | num }}</td>{% endif %}{% if bios %}<td class="bio"><bdi>{{ m.bio | clean(bio_shown) }}</bdi></td>{% endif %}</tr>
    {% endfor %}
    </tbody>
  </table></div>
</section>
{% endif %}
{% if doc.other_accounts %}
<section class="card">
  <h2>Your other accounts</h2>
  <div class="scroll"><table>
    <thead><tr><th>account</th><th class="n">audience</th><th>resilience</th></tr></thead>
    <tbody>{% for a in doc.other_accounts %}<tr><td class="who"><bdi>{{ a.account | breakable }}</bdi>{% if a.status in ('suspended', 'deactivated') %} {{ badge(a.status, a.status_since) }}{% endif %}</td><td class="n">{{ a.audience | num }}</td><td class="n">{{ charts.meter(a.resilience) }} {{ a.resilience | pct }}</td></tr>{% endfor %}</tbody>
  </table></div>
</section>
{% endif %}
{{ footer(doc) }}
</main>
</body>
</html>
"""
