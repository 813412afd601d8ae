"""Statuses and states are shown as words in the admin's language (admin/labels.py), with the
raw value kept where CSS, scripts and tests read it; the at-risk page's license and edition rows
and the errors of the tenant and event actions read in Chinese too, and stay English in English
and outside the admin."""

from __future__ import annotations

import pytest

from suite_server import db
from suite_server.billing import risks
from suite_server.models import InboundEvent
from suite_server.processing import pipeline
from tests.admin.conftest import post
from tests.admin.test_license_risks import NOW, stored, table  # noqa: F401
from tests.admin.test_pages import World, world  # noqa: F401
from tests.admin.untranslated import untranslated

CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}


def test_a_status_is_a_word_in_chinese_and_its_value_in_the_class(signed_in, world):  # noqa: F811
    body = signed_in.get("/admin/tenants", headers=CHINESE).get_data(as_text=True)
    assert 'class="badge needs_reauth" data-status="needs_reauth">需重新授权<' in body
    assert '<option value="needs_reauth" >需重新授权</option>' in body
    assert '<option value="">不限</option>' in body
    # App ids are data: as they are, not to be translated.
    assert '<option value="wxcomp"  translate="no">wxcomp</option>' in body

    english = signed_in.get("/admin/tenants").get_data(as_text=True)
    assert 'class="badge needs_reauth" data-status="needs_reauth">needs_reauth<' in english
    assert '<option value="needs_reauth" >needs_reauth</option>' in english
    assert '<option value="">any</option>' in english


def test_the_license_and_edition_risks_read_in_chinese(signed_in, stored, monkeypatch):  # noqa: F811
    monkeypatch.setattr(risks, "utcnow", lambda: NOW)
    body = signed_in.get("/admin/at-risk", headers=CHINESE).get_data(as_text=True)
    for section in ("trials-ending", "unlicensed-seen", "editions-at-risk"):
        assert untranslated(table(body, section)) == [], section
    editions = table(body, "editions-at-risk")
    assert "超出人数，已过宽限期 (7)" in editions and "5 天后过期" in editions
    assert 'data-reason="over_seats">超出购买人数<' in editions
    unlicensed = table(body, "unlicensed-seen")
    assert "成员 <code>wang&lt;wu&gt;</code> 在没有接口许可的情况下打开了应用" in unlicensed


def test_a_refused_action_says_why_in_chinese_and_in_english(signed_in, world):  # noqa: F811
    page = f"/admin/events/{world.event.id}"
    db.session().get(InboundEvent, world.event.id).status = "done"
    db.session().commit()
    action = f"{page}/reprocess"
    post(signed_in, page, action)
    english = signed_in.get(page).get_data(as_text=True)
    assert f"event {world.event.id} is done: only a failed or ignored one is re-run" in english

    signed_in.set_cookie("admin_lang", "zh", path="/admin")
    post(signed_in, page, action)
    chinese = signed_in.get(page).get_data(as_text=True)
    said = f"事件 {world.event.id} 的状态是「已完成」：只有处理失败或已忽略的事件才能重新处理"
    assert said in chinese


def test_outside_the_admin_the_lower_layers_keep_their_english(app, world):  # noqa: F811
    with pytest.raises(LookupError, match="no event 424242"):
        pipeline.reprocess(424242)


def test_a_bad_page_number_is_refused_in_the_admin_s_language(signed_in, world):  # noqa: F811
    english = signed_in.get("/admin/events?before=x")
    assert english.status_code == 400
    assert "before must be a whole number from 1 to" in english.get_data(as_text=True)
    chinese = signed_in.get("/admin/events?before=x", headers=CHINESE)
    assert chinese.status_code == 400
    assert "before 须为 1 到" in chinese.get_data(as_text=True)
