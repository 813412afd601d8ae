"""End to end in headless Chromium: a corp with a Chinese name installs through the sandbox, and
its tenant page draws the name in a real CJK font, not as boxes ("tofu"), in the admin's text
and monospace font stacks (suite_server/admin/static/admin.css).

How the glyphs are checked: in the page, a canvas draws each character of the name, one at a
time, in the font family the element computes (the stack, with the browser's own fallback to any
installed font), and compares the pictures. A character no installed font has is drawn as the
"missing glyph" box, the same picture for every such character. So the test draws two code points
that no font has (U+10FFFD and U+10FFFC, private use): they must come out alike, which shows the
comparison sees a missing glyph as such; then every character of the name must differ from that
box and from each other. Without a CJK font (fontconfig told to see only DejaVu, tried while
writing this) all eight characters are the box and the test fails; with fonts-noto-cjk it passes.
It shows that a CJK font draws the name, named by the stack or found by the browser's fallback;
it cannot tell which of the two chose it.

Skipped with the reason when Chromium or Playwright is missing here (failed under CI, where
.ci/run installs them and the font)."""

from __future__ import annotations

from tests.admin.browsing import sign_in
from tests.authorization.conftest import drain, push

CORP_NAME = "测试科技有限公司"
# (element, text) -> the missing-glyph pictures and each character's picture, drawn in the
# element's computed font family.
DRAW = """(element, text) => {
  const family = getComputedStyle(element).fontFamily;
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 48;
  const context = canvas.getContext("2d");
  const draw = (character) => {
    context.clearRect(0, 0, 48, 48);
    context.font = `32px ${family}`;
    context.fillText(character, 4, 38);
    return canvas.toDataURL();
  };
  return {
    family,
    missing: [draw("\\u{10FFFD}"), draw("\\u{10FFFC}")],
    glyphs: Array.from(text).map((character) => [character, draw(character)]),
  };
}"""


def boxes(locator, text: str) -> list[str]:
    """The characters of `text` drawn as the missing-glyph box in `locator`'s font family."""
    drawn = locator.evaluate(DRAW, text)
    missing, also_missing = drawn["missing"]
    assert missing == also_missing, "two missing code points drawn differently: cannot tell"
    left = [character for character, picture in drawn["glyphs"] if picture == missing]
    if not left:  # real glyphs: the name's distinct characters look distinct
        assert len({picture for _, picture in drawn["glyphs"]}) == len(set(text)), drawn["family"]
    return left


def test_a_chinese_corp_name_is_drawn_in_a_cjk_font(app, platform, suite, admin_user, page):
    push(platform, suite, "create_auth", tenant_id="wwcorp-cjk", name=CORP_NAME)
    drain(app)

    sign_in(page)
    page.goto(f"/admin/tenants/{suite.app_id}/wwcorp-cjk")
    heading = page.locator("h1")
    assert heading.inner_text().startswith(CORP_NAME)
    hint = "no CJK font here: apt-get install fonts-noto-cjk"
    assert boxes(heading, CORP_NAME) == [], hint
    # The same in the monospace stack, which shows ids and payloads (Chinese ones included).
    assert boxes(page.locator("code").first, CORP_NAME) == [], hint
