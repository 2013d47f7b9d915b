"""Pages in scripts written without spaces between words (Chinese, Japanese, Thai) and with them
(Korean, Arabic), long and short: ingest and backfill store each page's whole text."""

from __future__ import annotations

from pipeline.backfill.run import BackfillOptions, run_backfill
from pipeline.ingest import Services, run_cycle
from pipeline.testkit.pages import article_page
from pipeline.testkit.server import rss
from pipeline.testkit.warcs import Record, write_warc
from tests.helpers import make_pipeline, write_feeds

#: One report of the same event in each language, sentence by sentence.
SENTENCES = {
    "zh": [
        "美国财政部周四宣布对长沙天仪研究院实施制裁，指控该公司向俄罗"
        "斯瓦格纳集团提供合成孔径雷达卫星图像。",
        "官员表示，这些图像被用于支持在乌克兰的军事行动，相关交易通过一家中间公司完成。",
        "天仪研究院否认了上述指控，称公司一直遵守国际法律和出口管制规"
        "定，并将保留采取法律行动的权利。",
        "分析人士认为，此举表明华盛顿正在加大对商业航天企业的审查力度"
        "，尤其是那些与军方存在联系的企业。",
        "制裁意味着该公司在美国的资产将被冻结，美国公民和企业也被禁止与其进行任何交易。",
        "这并不是美国首次就卫星图像问题对中国企业采取行动，此前已有多家公司被列入实体清单。",
    ],
    "ja": [
        "米財務省は木曜日、中国の衛星企業がロシアの民間軍事会社ワグネ"
        "ルに合成開口レーダー画像を提供したとして制裁を科したと発表し"
        "た。",
        "当局者によると、これらの画像はウクライナでの戦闘作戦を支援す"
        "るために使われ、取引は仲介会社を通じて行われたという。",
        "同社は疑惑を否定し、国際法と輸出管理規則を常に順守してきたと"
        "述べ、法的措置をとる権利を留保するとした。",
        "専門家は、今回の措置はワシントンが商業宇宙企業、とりわけ軍と"
        "関係のある企業への監視を強めていることを示していると指摘する"
        "。",
        "制裁により同社の米国内の資産は凍結され、米国の市民や企業は同社との取引を禁じられる。",
    ],
    "ko": [
        "미국 재무부는 목요일 중국 위성 기업이 러시아 민간 군사 기업 "
        "바그너 그룹에 합성 개구 레이더 영상을 제공했다며 제재를 "
        "부과했다고 발표했다.",
        "관계자들에 따르면 이 영상은 우크라이나에서의 전투 작전을 "
        "지원하는 데 사용되었으며 거래는 중개 회사를 통해 이루어졌다.",
        "해당 기업은 의혹을 부인하며 국제법과 수출 통제 규정을 항상 준수해 왔다고 밝혔다.",
        "전문가들은 이번 조치가 워싱턴이 상업 우주 기업에 대한 감시를"
        " 강화하고 있음을 보여준다고 분석했다.",
    ],
    "th": [
        "กระทรวงการคลังสหรัฐฯ "
        "ประกาศคว่ำบาตรบริษัทดาวเทียมของจีนที่ถูกกล่าวหาว่าจัดหาภาพถ่"
        "ายเรดาร์ให้แก่กลุ่มวากเนอร์ของรัสเซีย",
        "เจ้าหน้าที่ระบุว่าภาพเหล่านี้ถูกนำไปใช้สนับสนุนปฏิบัติการทางทหารในยูเครนและการซื้อขายดำเนินการผ่านบริษัทตัวกลาง",
        "บริษัทดังกล่าวปฏิเสธข้อกล่าวหาและยืนยันว่าปฏิบัติตามกฎหมายระ"
        "หว่างประเทศและกฎระเบียบการควบคุมการส่งออกมาโดยตลอด",
        "นักวิเคราะห์มองว่ามาตรการนี้แสดงให้เห็นว่าวอชิงตันกำลังเพิ่มการตรวจสอบบริษัทอวกาศเชิงพาณิชย์",
    ],
    "ar": [
        "أعلنت وزارة الخزانة الأمريكية يوم الخميس فرض عقوبات على شركة"
        " أقمار صناعية صينية متهمة بتزويد مجموعة فاغنر الروسية بصور "
        "رادارية.",
        "وقال مسؤولون إن هذه الصور استخدمت لدعم العمليات العسكرية في "
        "أوكرانيا وإن الصفقات تمت عبر شركة وسيطة.",
        "ونفت الشركة هذه الاتهامات مؤكدة أنها تلتزم دائما بالقانون الدولي وقواعد مراقبة الصادرات.",
        "ويرى محللون أن هذه الخطوة تظهر أن واشنطن تشدد رقابتها على شركات الفضاء التجارية.",
    ],
}


def pages() -> dict[str, tuple[str, list[str]]]:
    """(language, length) -> (title, paragraphs): a long article of two paragraphs of about
    800 characters each, and a short one of one sentence."""
    out = {}
    for lang, sentences in SENTENCES.items():
        joiner = "" if lang in ("zh", "ja", "th") else " "

        def paragraph(shift: int, sentences: list[str] = sentences, joiner: str = joiner) -> str:
            text, i = "", 0
            while len(text) < 800:
                text += (joiner if text else "") + sentences[(i + shift) % len(sentences)]
                text += f"（{i + shift}）"
                i += 1
            return text

        out[f"{lang}-long"] = (sentences[0][:16], [paragraph(0), paragraph(100)])
        out[f"{lang}-short"] = (sentences[1][:16], [sentences[0]])
    return out


def _html(key: str, title: str, paras: list[str]) -> bytes:
    return article_page(title, paras, lang=key.split("-")[0]).encode("utf-8")


def _assert_whole_texts(services: Services, urls: dict[str, str]) -> None:
    with services.warehouse.connect(read_only=True) as db:
        stored = {
            url: (text, source)
            for url, text, source in db.rows(
                "SELECT url, text, text_source FROM articles WHERE source = 'feed'"
            )
        }
    for key, (_, paras) in pages().items():
        text, source = stored[urls[key]]
        assert source == "page", (key, text)
        for para in paras:
            assert para in text, (key, len(para), text[:80])


def test_ingest_and_backfill_store_the_whole_text_of_every_script(
    make_settings, fake_embedder, loopback, tmp_path
):
    services = make_pipeline(make_settings('[backfill]\nprefilter = "none"\n'), fake_embedder)
    items, urls = [], {}
    for key, (title, paras) in pages().items():
        path = f"/{key}.html"
        loopback.route(path, _html(key, title, paras))
        urls[key] = loopback.url(path)
        # The feed carries the title and the first clause, as many do.
        items.append({"title": title, "link": urls[key], "guid": key, "description": paras[0][:12]})
    loopback.route("/feed.xml", rss(items), content_type="application/rss+xml")
    write_feeds(services.settings, [loopback.url("/feed.xml")])
    assert run_cycle(services).articles_new == len(items)
    _assert_whole_texts(services, urls)

    # The same pages from an archive, under other URLs.
    archived = {key: f"https://news.example.org/2024/03/{key}" for key in pages()}
    archive = write_warc(
        tmp_path / "scripts.warc.gz",
        [
            Record(archived[key], _html(key, title, paras))
            for key, (title, paras) in pages().items()
        ],
    )
    summary = run_backfill(services, [str(archive)], BackfillOptions(workers=0))
    assert summary.counts["extracted"] == len(archived), summary.counts
    _assert_whole_texts(services, archived)
