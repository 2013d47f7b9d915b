"""The weekly digest: folding, escaping, MIME structure, outbox, SMTP (plain, STARTTLS, a
refused first attempt), one digest per week."""

from __future__ import annotations

import email
import ssl
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.digest.deliver import deliver_digest
from pipeline.digest.model import build_digest, last_complete_week, week_of
from pipeline.errors import DigestError
from pipeline.store.db import Warehouse
from tests.conftest import Inbox, free_port

WEEK = "2026-W46"  # Mon 9 Nov - Sun 15 Nov 2026
NOW = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
HOSTILE = "Sanctions <script>alert(1)</script> & <img src=x onerror=alert(2)>"


def test_weeks():
    w = week_of(WEEK, "UTC")
    assert w.start == datetime(2026, 11, 9, tzinfo=UTC) and w.end - w.start == timedelta(days=7)
    berlin = week_of(WEEK, "Europe/Berlin")
    assert berlin.start == datetime(2026, 11, 8, 23, 0, tzinfo=UTC)
    assert last_complete_week(NOW, "UTC").label == WEEK
    assert (
        last_complete_week(datetime(2026, 11, 16, 0, 30, tzinfo=UTC), "Asia/Tokyo").label
        == "2026-W46"
    )
    assert w.previous().label == "2026-W45"
    with pytest.raises(DigestError):
        week_of("2026-47", "UTC")
    with pytest.raises(DigestError):
        week_of("2026-W60", "UTC")


def row(i, title, *, day=10, topics=None, story=None, dup=None, site=None, on=True):
    when = datetime(2026, 11, day, 12, tzinfo=UTC)
    return {
        "id": i,
        "title": title,
        "url": f"https://news{i}.example/a",
        "site_name": site,
        "feed_title": f"Feed {i}",
        "published_at": when,
        "fetched_at": when,
        "description": f"Lead of {title}. It has a second sentence.",
        "text": "Body.",
        "duplicate_of": dup,
        "story_id": story or i,
        "on_topic": on,
        "topics": topics if topics is not None else {"sanctions": 0.8},
    }


def test_build_digest_folds_stories_and_leaves_out_noise():
    rows = [
        row(10, "Main report", topics={"sanctions": 0.9, "satellite_support": 0.7}, site="Wire A"),
        row(11, "Same event, other outlet", story=10, topics={"sanctions": 0.7}, site="Outlet B"),
        row(12, "Copy of the main report", dup=10, story=10, site="Reposter C"),
        row(13, "Copy of a seed", dup=1, story=1, site="Seed copier"),
        row(14, "Weather", topics={}, on=False),
        row(15, "Spy case", topics={"espionage": 0.8}, day=12),
    ]
    model = build_digest(
        week_of(WEEK, "UTC"),
        rows,
        {"sanctions": 3},
        [("Dead feed", "dns")],
        {
            "sanctions": "Sanctions",
            "espionage": "Espionage",
            "satellite_support": "Satellite support",
        },
    )
    titles = [st.title for s in model.sections for st in s.stories]
    assert sorted(titles) == ["Main report", "Spy case"]  # each story once, no noise
    sanctions = model.sections[0]
    main = sanctions.stories[0]
    assert main.source == "Wire A" and main.also == ("Outlet B", "Reposter C")
    assert main.also_line() == "also reported by Outlet B and Reposter C"
    assert (sanctions.count, sanctions.previous) == (1, 3)
    # Tagged satellite_support too, but listed (and so counted) under sanctions only.
    assert {s.topic: s.count for s in model.sections}["satellite_support"] == 0
    assert model.daily["sanctions"][1] == 1 and model.daily["espionage"][3] == 1
    assert model.failing_feeds == (("Dead feed", "dns"),)


def test_text_part_keeps_a_line_break_after_every_score_line(make_settings):
    import re

    from pipeline.digest.render import render

    rows = [
        row(10, "Chips export ban", topics={"sanctions": 0.9, "espionage": 0.3}, site="Wire A"),
        row(11, "Same ban, other outlet", story=10, topics={"sanctions": 0.7}, site="B"),
        row(12, "Spy case", topics={"espionage": 0.8}, day=12),
    ]
    model = build_digest(
        week_of(WEEK, "UTC"),
        rows,
        {},
        [("Dead feed", "dns")],
        {"sanctions": "Sanctions", "espionage": "Espionage"},
        now=NOW,
    )
    text = render(model, make_settings()).text
    lines = text.splitlines()
    scores = [i for i, line in enumerate(lines) if "scores:" in line]
    assert len(scores) == 2
    for i in scores:
        assert re.fullmatch(r"  scores: [a-z_]+ \d\.\d\d(, [a-z_]+ \d\.\d\d)*", lines[i]), lines[i]
    assert lines[scores[0] + 1] == "  also reported by B"
    assert lines[scores[0] + 2] == "" and lines[scores[1] + 1] == ""
    for header in ("Sanctions: ", "Espionage: "):
        assert any(line.startswith(header) for line in lines), header
    assert "  - Dead feed: dns" in lines


LABELS = {
    "sanctions": "Sanctions",
    "espionage": "Espionage",
    "satellite_support": "Satellite support",
}


def test_counts_agree_with_the_listing_everywhere(make_settings):
    import re

    from pipeline.digest.render import render

    rows = [
        row(10, "Chips export ban", topics={"sanctions": 0.9, "espionage": 0.6}),
        row(11, "Launch for the army", topics={"satellite_support": 0.8}, day=12),
        row(12, "Second ban", topics={"sanctions": 0.7, "satellite_support": 0.65}, day=13),
    ]
    model = build_digest(
        week_of(WEEK, "UTC"), rows, {"sanctions": 1, "espionage": 1}, [], LABELS, now=NOW
    )
    by_topic = {s.topic: s for s in model.sections}
    # The two-topic chips story counts once, under sanctions (its best), and not as espionage.
    assert model.counts() == {"sanctions": 2, "espionage": 0, "satellite_support": 1}
    for s in model.sections:
        assert s.count == len(s.stories) + s.hidden
    assert not by_topic["espionage"].stories
    assert by_topic["sanctions"].stories[0].scores == {"espionage": 0.6, "sanctions": 0.9}
    assert sum(model.daily["espionage"]) == 0 and sum(model.daily["sanctions"]) == 2
    assert model.totals["stories"] == sum(model.counts().values()) == 3

    rendered = render(model, make_settings())
    expected = {LABELS[t]: n for t, n in model.counts().items()}
    subject = re.search(r": (\d+) stories \((.*)\)$", rendered.subject)
    assert subject and int(subject[1]) == 3
    assert dict(
        (label, int(n)) for label, n in (part.rsplit(" ", 1) for part in subject[2].split(", "))
    ) == {label: n for label, n in expected.items() if n}
    headers = {
        m[1]: (int(m[2]), int(m[3]))
        for m in re.finditer(
            r"^(.+): (\d+) stor(?:y|ies) \(previous week: (\d+)", rendered.text, re.M
        )
    }
    assert {label: n for label, (n, _) in headers.items()} == expected
    assert {label: p for label, (_, p) in headers.items()} == {
        "Sanctions": 1,
        "Espionage": 1,
        "Satellite support": 0,
    }
    espionage = rendered.text.split("Espionage: ", 1)[1].split("\n\n", 1)[0]
    assert espionage.startswith("0 stories") and "No story this week." in espionage
    html_counts = {
        m[1]: int(m[2])
        for m in re.finditer(
            r"<td[^>]*>([^<]+)</td>\s*<td[^>]*font-weight:bold[^>]*>(\d+)</td>", rendered.html
        )
    }
    assert html_counts == expected
    rule = "Each story is counted once, under its best-scoring topic"
    assert rule in rendered.text and rule in rendered.html


def test_previous_week_is_counted_by_the_same_rule(filled):
    from pipeline.digest.deliver import load_digest

    settings, wh = filled()
    with wh.transaction() as db:
        # Article 5 (the week before) is a sanctions story also tagged espionage.
        db.execute(
            "INSERT INTO article_topics (article_id, topic, score, evidence) "
            "VALUES (5, 'espionage', 0.5, '{}')"
        )
    model = load_digest(settings, wh, week_of(WEEK, settings.schedule.timezone), NOW)
    previous = {s.topic: s.previous for s in model.sections}
    assert previous["sanctions"] == 1 and previous["espionage"] == 0
    before = load_digest(settings, wh, week_of(WEEK, settings.schedule.timezone).previous(), NOW)
    assert before.counts()["sanctions"] == 1 and before.counts()["espionage"] == 0


def test_also_line_shortens():
    from pipeline.digest.model import Story

    s = Story("t", "u", "src", NOW, "lead", "sanctions", {}, also=("A", "B", "C", "D", "E"))
    assert s.also_line() == "also reported by A, B and 3 more"


def test_chart_legend_shows_every_label_above_the_bars():
    from datetime import date

    from pipeline.digest.chart import chart_figure

    labels = {
        "sanctions": "Sanctions and export controls",
        "espionage": "Espionage and counter-intelligence",
        "satellite_support": "Satellite and space support to the war",
    }
    days = [date(2026, 11, 9) + timedelta(days=i) for i in range(7)]
    fig = chart_figure(days, {t: [5, 4, 3, 5, 2, 1, 2] for t in labels}, labels)
    fig.draw_without_rendering()  # runs the layout
    renderer = fig.canvas.get_renderer()
    (ax,) = fig.axes
    legend = fig.legends[0] if fig.legends else ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == list(labels.values())
    box, plot, page = legend.get_window_extent(renderer), ax.get_window_extent(renderer), fig.bbox
    assert box.y0 >= plot.y1  # above the plot: it covers no bar
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and box.y1 <= page.y1  # nothing cut off
    for text in legend.get_texts():
        extent = text.get_window_extent(renderer)
        assert page.x0 <= extent.x0 and extent.x1 <= page.x1


# -- against a warehouse ------------------------------------------------------------------------


@pytest.fixture
def filled(make_settings):
    """A warehouse with a week of articles (and a failing feed)."""

    def make(extra=""):
        settings = make_settings(
            '[digest]\nrecipients = ["analyst@example.org"]\n'
            'sender = "newswatch@example.org"\n' + extra
        )
        wh = Warehouse(settings.warehouse.path)
        wh.migrate()
        with wh.transaction() as db:
            db.execute(
                "INSERT INTO feeds (url, config_url, title, error_count, last_error, "
                "last_error_kind) VALUES ('http://a/f', 'http://a/f', 'Good feed', 0, NULL, "
                "NULL), ('http://b/f', 'http://b/f', 'Broken feed', 3, 'HTTP 500', "
                "'http_5xx')"
            )
            articles = [
                (1, HOSTILE, "Wire A", None, 1, "2026-11-10"),
                (2, "Second outlet on the same event", "Outlet B", None, 1, "2026-11-10"),
                (3, "Verbatim copy", "Reposter C", 1, 1, "2026-11-11"),
                (4, "Spies arrested at space institute", "Daily D", None, 4, "2026-11-12"),
                (5, "Old news from the week before", "Wire A", None, 5, "2026-11-04"),
            ]
            for aid, title, site, dup, story, day in articles:
                db.execute(
                    "INSERT INTO articles (id, source, feed_id, url, canonical_url, title, "
                    "fetched_at, published_at, text, text_source, content_hash, "
                    "word_count, duplicate_of, story_id, relevance, on_topic, site_name) "
                    "VALUES (?, 'feed', 1, ?, ?, ?, ?, ?, ?, 'page', ?, 10, ?, ?, 0.7, "
                    "TRUE, ?)",
                    [
                        aid,
                        f"https://n{aid}.example/a",
                        f"https://n{aid}.example/a",
                        title,
                        f"{day} 10:00:00+00",
                        f"{day} 09:00:00+00",
                        f"Text of {title}. More text.",
                        f"h{aid}",
                        dup,
                        story,
                        site,
                    ],
                )
                topic = "espionage" if aid == 4 else "sanctions"
                db.execute(
                    "INSERT INTO article_topics (article_id, topic, score, evidence) "
                    "VALUES (?, ?, 0.8, '{}')",
                    [aid, topic],
                )
        return settings, wh

    return make


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=policy.default)


def check_message(msg):
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Date"] and msg["Message-ID"] and "2026-W46" in msg["Subject"]
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html_part = msg.get_body(preferencelist=("html",))
    html = html_part.get_content()
    assert "<script>" not in html and "onerror=alert" not in html.replace(
        "onerror=alert(2)&gt;", ""
    )
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert HOSTILE in text  # plain text shows the headline as it is
    assert "also reported by Outlet B and Reposter C" in text
    assert text.count("Verbatim copy") == 0 and "Old news" not in text
    assert "Broken feed" in text and "Broken feed" in html
    related = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert (
        related and related[0]["Content-ID"] == "<daily-chart>" and 'src="cid:daily-chart"' in html
    )
    return text, html


def test_outbox_when_no_smtp_host_and_never_twice(filled):
    settings, wh = filled()
    first = deliver_digest(settings, wh, week=WEEK, now=NOW)
    assert first.status == "written" and len(first.files) == 2
    eml = [f for f in first.files if f.endswith(".eml")][0]
    with open(eml, "rb") as fh:
        check_message(parse(fh.read()))
    html_file = [f for f in first.files if f.endswith(".html")][0]
    assert "data:image/png;base64," in Path(html_file).read_text(encoding="utf-8")
    again = deliver_digest(settings, wh, week=WEEK, now=NOW)
    assert again.status == "already_sent"
    forced = deliver_digest(settings, wh, week=WEEK, force=True, now=NOW)
    assert forced.status == "written"
    with wh.connect(read_only=True) as db:
        assert db.rows("SELECT week, status, attempts FROM digests") == [(WEEK, "written", 2)]


def test_empty_week(filled, tmp_path):
    settings, wh = filled()
    outcome = deliver_digest(settings, wh, week="2026-W40", now=NOW)
    assert outcome.status == "written" and "nothing new" in outcome.subject
    quiet, wh2 = filled(f'send_empty = false\n[warehouse]\npath = "{tmp_path / "quiet.duckdb"}"\n')
    assert deliver_digest(quiet, wh2, week="2026-W41", now=NOW).status == "skipped_empty"


@pytest.mark.parametrize(
    "broken, problem",
    [
        ('[[topics]]\nslug = "sanctions"\nlabel = "Sanctions"\n[[topics]\n', "not valid TOML"),
        (
            '[[topics]]\nslug = "sanctions"\nlabel = "Sanctions"\nkeywords = ["sanction"]\n',
            "description is required",
        ),
    ],
)
def test_an_invalid_topics_file_costs_the_labels_not_the_digest(
    filled, tmp_path, caplog, broken, problem
):
    import logging

    from pipeline.config.settings import with_overrides
    from pipeline.digest.deliver import load_digest

    settings, wh = filled()
    # Labels come from the topics file through the topics loader.
    model = load_digest(settings, wh, week_of(WEEK, settings.schedule.timezone), NOW)
    assert {s.topic: s.label for s in model.sections}[
        "sanctions"
    ] == "Sanctions and export controls"
    topics = tmp_path / "broken-topics.toml"
    topics.write_text(broken, encoding="utf-8")
    settings = with_overrides(settings, topics={"file": topics})
    with caplog.at_level(logging.WARNING):
        outcome = deliver_digest(settings, wh, week=WEEK, now=NOW)
    # The digest still goes out, its sections named by slug, and one warning says why.
    assert outcome.status == "written"
    assert outcome.subject.endswith("2 stories (espionage 1, sanctions 1)")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert str(topics) in warnings[0] and problem in warnings[0]


def test_plain_smtp_with_a_refused_first_attempt(filled, smtp_server):
    inbox = Inbox(refuse_first=1)
    port = smtp_server(inbox)
    settings, wh = filled(
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        f"retries = 3\nretry_delay_s = 0.1\n"
    )
    outcome = deliver_digest(settings, wh, week=WEEK, now=NOW)
    assert outcome.status == "sent", outcome.error
    assert len(inbox.messages) == 1
    text, _ = check_message(parse(inbox.messages[0]))
    assert "Spies arrested at space institute" in text
    assert deliver_digest(settings, wh, week=WEEK, now=NOW).status == "already_sent"
    assert len(inbox.messages) == 1


def test_failed_send_leaves_the_week_unsent_then_succeeds(filled, smtp_server):
    port = free_port()  # nothing listens yet
    settings, wh = filled(
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        f"retries = 2\nretry_delay_s = 0.05\ntimeout_s = 2.0\n"
    )
    failed = deliver_digest(settings, wh, week=WEEK, now=NOW)
    assert failed.status == "failed" and failed.error
    with wh.connect(read_only=True) as db:
        assert db.scalar("SELECT status FROM digests WHERE week = ?", [WEEK]) == "failed"
    inbox = Inbox()
    smtp_server(inbox, port=port)
    assert deliver_digest(settings, wh, week=WEEK, now=NOW).status == "sent"
    assert len(inbox.messages) == 1


def make_cert(tmp_path):
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_starttls_with_login(filled, smtp_server, tmp_path, monkeypatch):
    from aiosmtpd.smtp import AuthResult

    cert, key = make_cert(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    seen = {}

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen["login"] = (auth_data.login, auth_data.password)
        return AuthResult(success=True)

    port = smtp_server(
        inbox,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    settings, wh = filled(
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "starttls"\n'
        f'username = "digest-bot"\nca_file = "{cert}"\nretry_delay_s = 0.1\n'
    )
    from pipeline.config.settings import with_overrides

    settings = with_overrides(settings, smtp={"password": "s3cret"})
    outcome = deliver_digest(settings, wh, week=WEEK, now=NOW)
    assert outcome.status == "sent", outcome.error
    assert seen["login"] == (b"digest-bot", b"s3cret")
    check_message(parse(inbox.messages[0]))


def test_cli_preview_and_text(filled, tmp_path):
    settings, wh = filled()
    preview = tmp_path / "preview.html"
    result = CliRunner().invoke(
        cli, ["--config", settings.source, "digest", "--week", WEEK, "--preview", str(preview)]
    )
    assert result.exit_code == 0, result.output
    html = preview.read_text()
    assert "data:image/png;base64," in html and "&lt;script&gt;" in html
    text = CliRunner().invoke(cli, ["--config", settings.source, "digest", "--week", WEEK])
    assert text.exit_code == 0 and "Subject:" in text.output and HOSTILE in text.output
    sent = CliRunner().invoke(
        cli, ["--config", settings.source, "digest", "--week", WEEK, "--send"]
    )
    assert sent.exit_code == 0 and "written to" in sent.output
    bad = CliRunner().invoke(cli, ["--config", settings.source, "digest", "--week", "last"])
    assert bad.exit_code != 0 and "ISO week" in bad.output


def test_implicit_tls(filled, smtp_server, tmp_path):
    cert, key = make_cert(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    port = smtp_server(inbox, ssl_context=context)
    settings, wh = filled(
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "ssl"\n'
        f'ca_file = "{cert}"\nretry_delay_s = 0.1\n'
    )
    outcome = deliver_digest(settings, wh, week=WEEK, now=NOW)
    assert outcome.status == "sent", outcome.error
    check_message(parse(inbox.messages[0]))
    # Without trusting the certificate the send fails cleanly and the week stays unsent.
    untrusted, wh2 = filled(
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "ssl"\n'
        f'retry_delay_s = 0.1\n[warehouse]\npath = "{tmp_path / "u.duckdb"}"\n'
    )
    failed = deliver_digest(untrusted, wh2, week=WEEK, now=NOW)
    assert failed.status == "failed" and "certificate" in failed.error.lower()


def test_a_week_that_has_not_ended_is_refused_or_sent_without_being_marked(filled, inbox):
    settings, wh = filled(
        f'[smtp]\nhost = "127.0.0.1"\nport = {inbox.port}\nsecurity = "none"\nretry_delay_s = 0.1\n'
    )
    midweek = datetime(2026, 11, 12, 9, 0, tzinfo=UTC)
    with pytest.raises(
        DigestError,
        match=r"2026-W46 has not ended: it ends Mon 16 Nov "
        r"2026 00:00 \(UTC\)",
    ):
        deliver_digest(settings, wh, week=WEEK, now=midweek)
    with pytest.raises(DigestError, match="has not ended"):
        deliver_digest(settings, wh, week="2026-W50", now=NOW)  # a future week
    assert inbox.messages == []
    early = deliver_digest(settings, wh, week=WEEK, force=True, now=midweek)
    assert early.status == "sent" and not early.week_ended and len(inbox.messages) == 1
    with wh.connect(read_only=True) as db:
        assert db.rows("SELECT week FROM digests") == []
    # The Monday run (no week given: the last complete one) still sends and records it.
    real = deliver_digest(settings, wh, now=NOW)
    assert (real.week, real.status, real.week_ended) == (WEEK, "sent", True)
    assert len(inbox.messages) == 2
    with wh.connect(read_only=True) as db:
        assert db.rows("SELECT week, status FROM digests") == [(WEEK, "sent")]
    assert deliver_digest(settings, wh, now=NOW).status == "already_sent"


def test_cli_send_refuses_the_current_week_unless_forced(filled, inbox, tmp_path):
    from zoneinfo import ZoneInfo

    settings, wh = filled(
        f'[smtp]\nhost = "127.0.0.1"\nport = {inbox.port}\nsecurity = "none"\n'
        f'retry_delay_s = 0.1\n[schedule]\ntimezone = "Europe/Berlin"\n'
    )
    tz = settings.schedule.timezone
    iso = datetime.now(ZoneInfo(tz)).isocalendar()
    current = week_of(f"{iso.year}-W{iso.week:02d}", tz)
    args = ["--config", settings.source, "digest", "--week", current.label]
    refused = CliRunner().invoke(cli, args + ["--send"])
    assert refused.exit_code != 0
    lines = refused.output.strip().splitlines()
    ends = current.end.astimezone(ZoneInfo(tz))
    assert len(lines) == 1 and f"{current.label} has not ended" in lines[0]
    assert f"ends {ends:%a %d %b %Y} 00:00 (Europe/Berlin)" in lines[0] and "--force" in lines[0]
    assert inbox.messages == []
    # Looking at it sends nothing and stays allowed.
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert CliRunner().invoke(cli, args + ["--preview", str(tmp_path / "p.html")]).exit_code == 0
    forced = CliRunner().invoke(cli, args + ["--send", "--force"])
    assert forced.exit_code == 0, forced.output
    assert "sent to analyst@example.org" in forced.output and "not marked sent" in forced.output
    assert len(inbox.messages) == 1
    with wh.connect(read_only=True) as db:
        assert db.rows("SELECT week FROM digests") == []
    # Once the week is over, its real digest goes out and is recorded.
    after = current.end + timedelta(hours=8)
    real = deliver_digest(settings, wh, week=current.label, now=after)
    assert real.status == "sent" and len(inbox.messages) == 2
    assert deliver_digest(settings, wh, now=after).status == "already_sent"
    with wh.connect(read_only=True) as db:
        assert db.rows("SELECT week, status FROM digests") == [(current.label, "sent")]
