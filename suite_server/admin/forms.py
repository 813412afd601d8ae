"""The admin UI's forms. Every one is a FlaskForm, so every one carries a CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField, TextAreaField
from wtforms.validators import URL, AnyOf, DataRequired, EqualTo, Length, Optional


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=100)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


class ActionForm(FlaskForm):
    """A button that does one thing (log out, refresh a token, re-process an event...): only the
    CSRF token."""


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired(), Length(max=1000)])
    new = PasswordField("New password (at least 10 characters)", validators=[DataRequired()])
    repeat = PasswordField(
        "New password again", validators=[EqualTo("new", message="the two differ")]
    )


class ConfirmForm(FlaskForm):
    """The form of a confirmation page: the action is done only with confirm=yes, which the
    page's form sends (rendered `form.confirm(value="yes")`); a POST from anywhere else is sent
    to the confirmation page first. No default: a default would stand in for a confirm the POST
    did not send."""

    confirm = HiddenField(validators=[AnyOf(["yes"])])


class DeactivateForm(ConfirmForm):
    reason = StringField("Reason (optional)", validators=[Optional(), Length(max=200)])


class RotateForm(ConfirmForm):
    # Which key the confirmation page was showing the rotation of (apps.key_fingerprint): a
    # second POST of the same page (a double click) finds another key current and does nothing.
    key = HiddenField(validators=[DataRequired(), Length(max=64)])


class AppSettingsForm(FlaskForm):
    name = StringField("Name", validators=[Length(max=200)])
    landing_url = StringField(
        "Landing URL after an install (optional)", validators=[Optional(), URL(), Length(max=500)]
    )
    return_to_allowed = TextAreaField(
        "Where install links may return to: URL prefixes, one per line (optional)",
        validators=[Optional(), Length(max=30000)],
    )
    test_mode = BooleanField("Test mode (WeCom: installs are test installs)")
    required_func_info = StringField(
        "Permission sets the app needs (Open: func_info ids, comma-separated; optional)",
        validators=[Optional(), Length(max=500)],
    )
    # Write-only: never filled in from the stored value; left empty, the stored value stays.
    secret = PasswordField("New secret", validators=[Optional(), Length(max=200)])
    token = PasswordField("New callback Token", validators=[Optional(), Length(max=32)])
    aes_key = PasswordField("New EncodingAESKey", validators=[Optional(), Length(min=43, max=43)])


class WebhookForm(FlaskForm):
    url = StringField("Webhook URL", validators=[Optional(), Length(max=500)])
    rotate = BooleanField("Generate a new signing secret")
    off = BooleanField("Turn the webhook off")


class ReceiverForm(FlaskForm):
    """A webhook receiver's settings; one per receiver on the receivers page (with a prefix),
    and one, with its name, to add a receiver."""

    name = StringField("Name", validators=[Optional(), Length(max=64)])
    url = StringField("URL", validators=[DataRequired(), Length(max=500)])
    matches = StringField(
        "Kinds it gets (patterns, separated by spaces)",
        validators=[DataRequired(), Length(max=500)],
    )
    sync = BooleanField("Synchronous: asked inside the platform's request for a passive reply")
    enabled = BooleanField("Enabled")
