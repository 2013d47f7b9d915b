"""Feed HTML (titles, summaries, content:encoded) as the plain text newswatch stores and shows
(pipeline/htmltext.py): paragraphs kept, entities decoded, scripts dropped, broken markup read."""

from __future__ import annotations

import pytest

from pipeline.htmltext import html_to_text, strip_tags


@pytest.mark.parametrize(
    "fragment, text",
    [
        (
            "<p>First paragraph.</p><p>Second paragraph.</p>",
            "First paragraph.\n\nSecond paragraph.",
        ),
        ("<ul><li>one</li><li>two</li></ul>", "one\n\ntwo"),
        ("<p>a</p>\n\n\n<p>b</p>", "a\n\nb"),
    ],
)
def test_blocks_become_paragraphs(fragment, text):
    assert html_to_text(fragment) == text


def test_inline_markup_does_not_split_words():
    assert html_to_text("<b>Space</b>ty <i>sanctioned</i> by <a href='/t'>Treasury</a>") == (
        "Spacety sanctioned by Treasury"
    )


def test_entities_are_decoded_with_or_without_tags():
    assert html_to_text("Fish &amp; chips &#8211; caf&eacute;") == "Fish & chips – café"
    assert html_to_text("<p>Fish &amp; chips&nbsp;today</p>") == "Fish & chips today"
    # Escaped markup is text: a headline about a <script> tag keeps its words.
    assert html_to_text("&lt;script&gt; tags in ads") == "<script> tags in ads"


def test_scripts_styles_and_embeds_are_dropped_but_the_text_after_them_is_kept():
    fragment = (
        "<p>Before <script>alert(1)</script>after.</p><style>p {color: red}</style>"
        "<iframe src='https://video.example'>no frames</iframe><p>End.</p>"
    )
    text = html_to_text(fragment)
    assert text == "Before after.\n\nEnd."


def test_broken_markup_and_plain_text_keep_their_words():
    assert html_to_text("<p>unclosed <i>italic and <b>bold") == "unclosed italic and bold"
    assert html_to_text("a < b and c > d") == "a < b and c > d"
    assert html_to_text("<<<>>>") == "<<<>>>"
    assert html_to_text(None) == "" and html_to_text("") == ""


def test_spaces_collapse_and_accents_are_composed():
    assert html_to_text("<p>  spaced \t  out  </p>") == "spaced out"
    # A decomposed é (e + combining accent) is stored as the one character, so it matches.
    assert html_to_text("cafe\u0301") == "caf\u00e9"


def test_a_title_is_one_line():
    assert strip_tags("<h1>Treasury</h1><p>sanctions <b>Spacety</b></p>\n") == (
        "Treasury sanctions Spacety"
    )
    assert strip_tags("Fish &amp; chips") == "Fish & chips"
