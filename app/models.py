"""Every table of the service, imported in one place for Alembic and the tests."""

from app.audit.models import AuditEvent
from app.auth.models import ApiKey, LoginFailure, User
from app.care_plans.models import CarePlan, Goal, care_plan_referrals
from app.clients.models import Client, Consent, Precaution
from app.core.db import Base
from app.core.idempotency import IdempotencyRecord
from app.directory.models import ReferringProfessional, Therapist
from app.events.models import Event, EventDispatch, Webhook, WebhookAttempt, WebhookDelivery
from app.referrals.models import Referral
from app.session_records.models import Addendum, Measurement, SessionRecord

__all__ = [
    "Addendum",
    "ApiKey",
    "AuditEvent",
    "Base",
    "CarePlan",
    "Client",
    "Consent",
    "Event",
    "EventDispatch",
    "Goal",
    "IdempotencyRecord",
    "LoginFailure",
    "Measurement",
    "Precaution",
    "Referral",
    "ReferringProfessional",
    "SessionRecord",
    "Therapist",
    "User",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "care_plan_referrals",
]
