"""The admin UI's forms. Every one is a FlaskForm, so every one carries a CSRF token."""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, AnyOf, DataRequired, EqualTo, Length, Optional


class LoginForm(FlaskForm):
    username = StringField(lazy_gettext("Username"), validators=[DataRequired(), Length(max=100)])
    password = PasswordField(
        lazy_gettext("Password"), validators=[DataRequired(), Length(max=1000)]
    )


class ActionForm(FlaskForm):
    """A button that does one thing (log out, refresh a token, re-process an event...): only the
    CSRF token."""


class PasswordForm(FlaskForm):
    current = PasswordField(
        lazy_gettext("Current password"), validators=[DataRequired(), Length(max=1000)]
    )
    new = PasswordField(
        lazy_gettext("New password (at least 10 characters)"), validators=[DataRequired()]
    )
    repeat = PasswordField(
        lazy_gettext("New password again"),
        validators=[EqualTo("new", message=lazy_gettext("the two differ"))],
    )


class PreferencesForm(FlaskForm):
    language = SelectField(
        lazy_gettext("Language"),
        choices=[
            SelectChoice("", lazy_gettext("As the browser asks")),
            # Each language named in itself, never translated.
            SelectChoice("en", "English", render_kw={"lang": "en", "translate": "no"}),
            SelectChoice("zh", "中文", render_kw={"lang": "zh-CN", "translate": "no"}),
        ],
        validators=[Optional()],
    )
    timezone = StringField(
        lazy_gettext("Time zone (for example Asia/Shanghai)"),
        validators=[Optional(), Length(max=64)],
    )


class ConfirmForm(FlaskForm):
    """The form of a confirmation page: the action is done only with confirm=yes, which the
    page's form sends (rendered `form.confirm(value="yes")`); a POST from anywhere else is sent
    to the confirmation page first. No default: a default would stand in for a confirm the POST
    did not send."""

    confirm = HiddenField(validators=[AnyOf(["yes"])])


class DeactivateForm(ConfirmForm):
    reason = StringField(
        lazy_gettext("Reason (optional)"), validators=[Optional(), Length(max=200)]
    )


class RotateForm(ConfirmForm):
    # Which key the confirmation page was showing the rotation of (apps.key_fingerprint): a
    # second POST of the same page (a double click) finds another key current and does nothing.
    key = HiddenField(validators=[DataRequired(), Length(max=64)])


class AppSettingsForm(FlaskForm):
    name = StringField(lazy_gettext("Name"), validators=[Length(max=200)])
    landing_url = StringField(
        lazy_gettext("Landing URL after an install (optional)"),
        validators=[Optional(), URL(), Length(max=500)],
    )
    return_to_allowed = TextAreaField(
        lazy_gettext("Where install links may return to: URL prefixes, one per line (optional)"),
        validators=[Optional(), Length(max=30000)],
    )
    test_mode = BooleanField(lazy_gettext("Test mode (WeCom: installs are test installs)"))
    required_func_info = StringField(
        lazy_gettext(
            "Permission sets the app needs (Open: func_info ids, comma-separated; optional)"
        ),
        validators=[Optional(), Length(max=500)],
    )
    # Write-only: never filled in from the stored value; left empty, the stored value stays.
    secret = PasswordField(lazy_gettext("New secret"), validators=[Optional(), Length(max=200)])
    token = PasswordField(
        lazy_gettext("New callback Token"), validators=[Optional(), Length(max=32)]
    )
    aes_key = PasswordField(
        lazy_gettext("New EncodingAESKey"), validators=[Optional(), Length(min=43, max=43)]
    )


class WebhookForm(FlaskForm):
    url = StringField(lazy_gettext("Webhook URL"), validators=[Optional(), Length(max=500)])
    rotate = BooleanField(lazy_gettext("Generate a new signing secret"))
    off = BooleanField(lazy_gettext("Turn the webhook off"))


class ReceiverForm(FlaskForm):
    """A webhook receiver's settings; one per receiver on the receivers page (with a prefix),
    and one, with its name, to add a receiver."""

    name = StringField(lazy_gettext("Name"), validators=[Optional(), Length(max=64)])
    url = StringField(lazy_gettext("URL"), validators=[DataRequired(), Length(max=500)])
    matches = StringField(
        lazy_gettext("Kinds it gets (patterns, separated by spaces)"),
        validators=[DataRequired(), Length(max=500)],
    )
    sync = BooleanField(
        lazy_gettext("Synchronous: asked inside the platform's request for a passive reply")
    )
    enabled = BooleanField(lazy_gettext("Enabled"))
