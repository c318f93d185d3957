"""The API reference in the clinic's words: what each field means to a therapist, a front desk
or a referring physiotherapist, and what each operation does and who may call it.

One table, read by `app.core.openapi` when it builds the document: a field's description
comes from the schema itself when it has one (`Field(description=...)`), else from
`FIELDS_BY_SCHEMA` (a meaning one schema gives a common name), else from `FIELDS` (a name that
means the same wherever it appears). A test fails for any property, request body or operation
left undescribed, so a new field or route must be documented here or on the schema.
"""

from __future__ import annotations

from typing import Any

# ---- fields that mean the same in every schema ----------------------------------------------

FIELDS: dict[str, str] = {
    # identity and bookkeeping
    "id": "The record's identifier (UUID), assigned by the server",
    "created_at": "When the record was created (RFC 3339, UTC)",
    "updated_at": "When the record last changed (RFC 3339, UTC)",
    "archived_at": "When the record was archived (soft delete); `null` while it is in use",
    "revoked_at": "When it was revoked, with immediate effect; `null` while it is in force",
    "version": 'The record\'s version: send it back as `If-Match: "<version>"` to change it',
    "items": "This page's records, oldest first",
    "next_cursor": "Pass as `cursor` to read the next page; `null` on the last page",
    # who and what a record points at
    "client_id": "The client (UUID) this record belongs to",
    "therapist_id": "The therapist (UUID)",
    "primary_therapist_id": "The therapist (UUID) leading the plan; `null` if not yet assigned",
    "referring_professional_id": "The referring professional (UUID), e.g. a physiotherapist",
    "care_plan_id": "The care plan (UUID) this belongs to",
    "goal_id": "The care-plan goal (UUID) this measurement tracks; `null` if none",
    "session_id": "The session (UUID)",
    "precaution_id": "The precaution (UUID) concerned; `null` when the note is not about one",
    "referral_id": "The referral (UUID)",
    "referral_ids": "The referrals (UUIDs) this plan answers, all of the same client",
    "webhook_id": "The webhook (UUID) this delivery goes to",
    "event_id": "The event (UUID) being delivered",
    # people
    "given_name": "First name, as the client writes it (1–100 characters, any script)",
    "family_name": "Family name, as the client writes it (1–100 characters, any script)",
    "full_name": "Full name as it appears on letters, e.g. `Dr. Amara Lindqvist`",
    "display_name": "Name shown in the app and the audit trail (1–200 characters)",
    "date_of_birth": "Date of birth (`YYYY-MM-DD`, not in the future)",
    "email": "E-mail address, e.g. `zoe.okafor@example.org` (3–320 characters)",
    "phone": "Phone number as dialled, e.g. `+44 20 7946 0958` (up to 50 characters)",
    "fax": "Fax number, for clinics that still receive referrals by fax",
    "address": "Postal address, one line (up to 500 characters)",
    "emergency_contact": "Who to call if something happens during treatment",
    "pregnancy_due_date": "Due date (`YYYY-MM-DD`) if pregnant: prenatal positioning applies",
    "organization": "Practice, clinic or hospital the professional works for",
    "registration_number": "Professional registration number, e.g. HCPC `PH123456`",
    "license_number": "Massage therapy licence number",
    "license_region": "State, province or country that issued the licence",
    "license_expires_on": "Date the licence expires (`YYYY-MM-DD`)",
    "credentials": "Post-nominal credentials, e.g. `LMT`, `CMT`, `BCTMB` (up to 20)",
    "certifications": "Specialist trainings that qualify for special session types (up to 10)",
    "discipline": "The professional's field, e.g. `physical_therapy`",
    "role": "What the caller may do: `admin`, `therapist`, `front_desk` or `referrer`",
    "password": "Password, 12–256 characters, kept only as a hash",
    # referrals
    "received_on": "Date the referral reached the clinic (`YYYY-MM-DD`)",
    "reason": "Why the client is referred, in the referrer's words",
    "diagnosis_codes": "ICD-10 codes, e.g. `M54.5` (low back pain); stored upper case with the dot",
    "diagnosis_text": "The diagnosis as the referrer words it",
    "authorized_sessions": "Number of sessions the referral (or insurer) authorizes, 1–1000",
    "valid_until": "Last date sessions may be given under this referral (`YYYY-MM-DD`)",
    "precautions_note": "What the referrer asks the therapist to watch for or avoid",
    # care plans and goals
    "title": "Short name of the plan, e.g. `Low back pain – 6 weeks` (up to 200 characters)",
    "start_date": "First day of the plan (`YYYY-MM-DD`)",
    "end_date": "Last day of the plan (`YYYY-MM-DD`), not before `start_date`",
    "planned_sessions": "Sessions planned in all, 1–1000",
    "sessions_per_week": "Planned frequency, e.g. `1.5` for three sessions a fortnight (up to 14)",
    "coordinated_care": "The other parts of the client's treatment (physiotherapy, psychotherapy…)",
    "notes": "Free-text notes for the care team (up to 10,000 characters)",
    "measure": "The outcome measure: `nprs` pain 0–10, `odi` 0–100 %, `rmdq` 0–24, `psfs` 0–10, "
    "`rom` degrees, or `custom`",
    "measure_label": "What a `custom` measure or `rom` movement is, e.g. `Lumbar flexion`",
    "unit": "Unit of the values, e.g. `degrees`; the measure's own unit when left out",
    "baseline_value": "The value at the start, in the measure's unit, e.g. NPRS `7`",
    "target_value": "The value the goal aims for, in the measure's unit, e.g. NPRS `2`",
    "target_date": "Date the goal should be reached by (`YYYY-MM-DD`)",
    "mcid": "Minimal important change: the smallest change the client would notice",
    "goals": "The plan's goals",
    # sessions
    "scheduled_start": "When the session starts (RFC 3339 with a zone, e.g. "
    "`2026-12-03T14:00:00+01:00`)",
    "scheduled_end": "When the session ends: `scheduled_start` plus `duration_minutes`",
    "duration_minutes": "Length of the session in minutes",
    "session_type": "Kind of session; some need a certification (prenatal, oncology, lymphatic)",
    "body_regions": "Body regions concerned (each at most once)",
    "regions_avoided": "Body regions deliberately not treated, e.g. because of a precaution",
    "techniques": "Techniques used, e.g. `myofascial release`, `trigger point` (up to 30)",
    "pressure": "Pressure used: `light`, `moderate`, `firm` or `deep`",
    "soap": "The session note in SOAP form; frozen once the note is signed",
    "measurements": "Outcome measures taken during the session (up to 50)",
    "health_update": "Changes in health since the last visit, as the client reports them",
    "adverse_event": "Anything that went wrong during or after treatment (bruising, dizziness…)",
    "home_care": "Advice given for home: stretches, heat, rest",
    "adjacent_appointment": "Another appointment booked back to back with this one",
    "note_status": "`draft` until the therapist signs the note, then `signed` (read-only)",
    "signed_at": "When the note was signed; `null` while it is a draft",
    "content_sha256": "SHA-256 of the note as signed, so a later change can be detected",
    "addenda": "Corrections appended after signing, oldest first",
    "warnings": "Screening warnings against the client's precautions: read them before treating",
    "timing": "Taken `pre` (before) or `post` (after) treatment in the session",
    "value": "The measured value, in the measure's unit",
    # precautions and consents
    "category": "What kind of precaution, e.g. `pregnancy`, `dvt`, `anticoagulants`",
    "severity": "`absolute`: do not treat; `local`: avoid `body_regions`; `relative`: adapt",
    "requires_clearance": "Treatment waits for a referring professional's written clearance",
    "clearance": "The referring professional's clearance to treat; `null` until given",
    "cleared_on": "Date the referring professional cleared treatment (`YYYY-MM-DD`)",
    "note": "What the clearance allows or asks for, in the clearer's words",
    "granted_on": "Date the client gave consent (`YYYY-MM-DD`)",
    "expires_on": "Last day the consent holds (`YYYY-MM-DD`); `null` for no end",
    # summaries
    "client": "The client the document is about",
    "period": "The dates the summary covers",
    "sessions": "The sessions concerned",
    "care_plans": "The care plans concerned",
    "adverse_events": "Adverse events recorded in signed session notes",
    "generated_at": "When this summary was computed (RFC 3339, UTC)",
    "referring_professional": "The professional who made the referral",
    "completed": "Sessions given and completed",
    "cancelled": "Sessions cancelled ahead of time",
    "no_show": "Sessions the client did not come to",
    # events and webhooks
    "url": "The HTTPS address events are POSTed to",
    "event_types": "Which events to send, e.g. `session.signed` (1–50 types)",
    "event_type": "The type of the event, e.g. `session.signed`",
    "occurred_at": "When the change was committed (RFC 3339, UTC)",
    "resource_type": "The kind of record concerned, e.g. `session`",
    "resource_id": "The record (UUID) concerned",
    "attempt_count": "How many times delivery has been tried",
    "next_attempt_at": "When the next try is due; `null` once delivered or given up",
    "last_status_code": "The HTTP status of the last try; `null` if it got no answer",
    "completed_at": "When delivery succeeded or was given up",
    "attempts": "Each try, oldest first",
    "at": "When it happened (RFC 3339, UTC)",
    "status_code": "The receiver's HTTP status; `null` if it did not answer",
    "error": "Why the try failed (timeout, refused connection…); `null` on success",
    "duration_ms": "How long the try took, in milliseconds",
    # audit
    "actor_type": "Who acted: `user`, `api_key`, or `null` for an anonymous request",
    "actor_id": "The user or API key (UUID) that acted",
    "action": "What was done: `read`, `create`, `update`, `delete`, `sign`, `export`, `login`, "
    "`denied`",
    "request_id": "The request's `X-Request-ID`, to find it in the server logs",
    "ip": "The caller's IP address",
    "method": "The HTTP method of the request",
    "path": "The path of the request",
    # tokens
    "access_token": "The bearer token: send it as `Authorization: Bearer <token>`",
    "token_type": "Always `bearer`",
    # problems
    "detail": "What went wrong, for a person to read",
    "errors": "For a 422: every invalid field and what is wrong with it",
    "loc": 'Where the invalid value is, e.g. `["body", "email"]`',
    "msg": "What is wrong with it",
}

# ---- a common name that means something particular in one schema ------------------------------

FIELDS_BY_SCHEMA: dict[tuple[str, str], str] = {
    ("AccessToken", "access_token"): "The bearer token: send it as `Authorization: Bearer <token>`",
    ("AddendumCreate", "text"): "The correction, as it should be read beside the signed note",
    ("AddendumCreate", "reason"): "Why the signed note needs correcting (up to 2,000 characters)",
    ("AddendumRead", "text"): "The correction, as written",
    ("AddendumRead", "reason"): "Why the signed note was corrected",
    ("AddendumRead", "author"): "Who wrote the addendum",
    ("AddendumRead", "created_at"): "When the addendum was added (RFC 3339, UTC)",
    ("AdjacentAppointment", "referring_professional_id"): "The professional (UUID) the other "
    "appointment is with",
    ("AdjacentAppointment", "relation"): "Whether the other appointment is `before` or `after` "
    "this session",
    (
        "AdjacentAppointment",
        "starts_at",
    ): "When the other appointment starts (RFC 3339 with a zone)",
    ("AdverseEvent", "session_id"): "The session (UUID) whose signed note records the event",
    ("AdverseEvent", "description"): "What happened, as the therapist recorded it",
    ("ApiKeyCreate", "name"): "What the key is for, e.g. `Front desk tablet` (1–200 characters)",
    ("ApiKeyCreate", "therapist_id"): "The therapist (UUID) a `therapist` key acts as; "
    "`null` for other roles",
    ("ApiKeyCreate", "referring_professional_id"): "The referring professional (UUID) a "
    "`referrer` key acts as; `null` for other roles",
    ("ApiKeyCreated", "name"): "What the key is for",
    ("ApiKeyCreated", "key"): "The key itself (`cpk_…`): shown this once, store it now",
    ("ApiKeyCreated", "therapist_id"): "The therapist (UUID) the key acts as, if a `therapist` key",
    ("ApiKeyCreated", "referring_professional_id"): "The referring professional (UUID) the key "
    "acts as, if a `referrer` key",
    ("ApiKeyRead", "name"): "What the key is for",
    ("ApiKeyRead", "therapist_id"): "The therapist (UUID) the key acts as, if a `therapist` key",
    ("ApiKeyRead", "referring_professional_id"): "The referring professional (UUID) the key acts "
    "as, if a `referrer` key",
    ("AuditEventRead", "at"): "When the request was answered (RFC 3339, UTC)",
    ("AuditEventRead", "role"): "The caller's role at the time; `null` if anonymous",
    ("AuditEventRead", "client_id"): "The client (UUID) whose record was touched, if any",
    ("AuditEventRead", "status"): "The HTTP status the request was answered with",
    ("Author", "type"): "Whether a signed-in `user` or an `api_key` wrote it",
    ("Author", "id"): "The user or API key (UUID)",
    ("CarePlanCreate", "status"): "Where the plan stands; new plans usually start as `draft`",
    ("CarePlanCreate", "kind"): "What the plan is for, e.g. `rehabilitation` after an injury",
    ("CarePlanUpdate", "kind"): "What the plan is for, e.g. `rehabilitation` after an injury",
    ("CarePlanRead", "kind"): "What the plan is for, e.g. `rehabilitation`",
    ("CarePlanExport", "kind"): "What the plan is for, e.g. `rehabilitation`",
    ("CarePlanSummary", "kind"): "What the plan is for, e.g. `rehabilitation`",
    ("CarePlanRead", "status"): "Where the plan stands: `draft`, `active`, `on_hold`, `completed`…",
    ("CarePlanExport", "status"): "Where the plan stands: `draft`, `active`, `on_hold`, "
    "`completed`…",
    ("CarePlanSummary", "status"): "Where the plan stands: `draft`, `active`, `on_hold`, "
    "`completed`…",
    ("CarePlanSummary", "title"): "The plan's short name",
    ("CarePlanSummary", "care_plan_id"): "The care plan (UUID) summarised",
    ("CarePlanSummary", "goals"): "Each goal with its baseline, target and status",
    ("CarePlanSummary", "sessions"): "How many sessions were completed, cancelled or missed",
    ("CarePlanExport", "goals"): "The plan's goals",
    ("ClientExport", "exported_at"): "When the export was made (RFC 3339, UTC)",
    ("ClientExport", "client"): "The client's own record",
    ("ClientExport", "precautions"): "Every precaution, active and resolved",
    ("ClientExport", "consents"): "Every consent, including revoked and expired ones",
    ("ClientExport", "referrals"): "Every referral for the client",
    ("ClientExport", "care_plans"): "Every care plan with its goals",
    ("ClientExport", "sessions"): "Every session with its note, measurements and addenda",
    ("ConsentCreate", "kind"): "`treatment`, or `share_with_referrer` to let a referrer read "
    "progress",
    (
        "ConsentRead",
        "kind",
    ): "`treatment`, or `share_with_referrer` to let a referrer read progress",
    ("ConsentCreate", "referring_professional_id"): "The referrer (UUID) the client allows to read "
    "progress; required for `share_with_referrer`",
    ("ConsentRead", "referring_professional_id"): "The referrer (UUID) allowed to read progress, "
    "for `share_with_referrer`",
    ("CoordinatedCare", "referring_professional_id"): "The professional (UUID) giving that care, "
    "if known",
    ("CoordinatedCare", "discipline"): "The kind of care, e.g. `physical_therapy`",
    ("CoordinatedCare", "description"): "What and how often, e.g. `Physiotherapy twice a week`",
    ("DeliveryRead", "state"): "`pending`, `in_flight`, `succeeded` or `failed` (given up)",
    ("DeliveryRead", "created_at"): "When the delivery was queued (RFC 3339, UTC)",
    ("EmergencyContact", "name"): "Name of the person to call (1–200 characters)",
    ("EmergencyContact", "phone"): "Their phone number, as dialled",
    ("EmergencyContact", "relationship"): "Who they are to the client, e.g. `partner`",
    ("EventPage", "items"): "Events in commit order",
    ("EventPage", "next_cursor"): "Pass as `after` to read on; also given when the feed is "
    "caught up",
    ("EventRead", "type"): "What happened, e.g. `session.signed`",
    ("EventRead", "data"): "The record as it was after the change",
    ("GoalCreate", "description"): "The goal in the client's words, e.g. `Sit through a "
    "work day without back pain` (up to 2,000 characters)",
    ("GoalUpdate", "description"): "The goal in the client's words (up to 2,000 characters)",
    ("GoalRead", "description"): "The goal in the client's words",
    ("GoalProgress", "description"): "The goal in the client's words",
    ("GoalCreate", "status"): "Where the goal stands; new goals start `proposed`",
    ("GoalUpdate", "status"): "Where the goal stands: `proposed`, `active`, `achieved`, "
    "`not_achieved`, `cancelled`",
    ("GoalRead", "status"): "Where the goal stands: `proposed`, `active`, `achieved`, "
    "`not_achieved`, `cancelled`",
    ("GoalProgress", "status"): "Where the goal stands: `proposed`, `active`, `achieved`, "
    "`not_achieved`, `cancelled`",
    ("LoginForm", "password"): "The user's password",
    ("LoginForm", "username"): "The user's e-mail address",
    ("LoginForm", "grant_type"): "Always `password`",
    ("MeasurePoint", "value"): "The value measured, in the measure's unit",
    ("MeasurePoint", "timing"): "Taken `pre` or `post` treatment",
    ("MeasureSeries", "measure"): "The outcome measure, e.g. `nprs`",
    ("PrecautionCreate", "description"): "What the therapist must know, e.g. `DVT left calf, "
    "on apixaban since March` (clinical: hidden from the front desk)",
    ("PrecautionUpdate", "description"): "What the therapist must know (clinical: hidden from the "
    "front desk)",
    ("PrecautionRead", "description"): "What the therapist must know; left out for the front desk",
    ("PrecautionCreate", "status"): "`active` while it applies, `resolved` once it no longer does",
    ("PrecautionUpdate", "status"): "`active` while it applies, `resolved` once it no longer does",
    ("PrecautionRead", "status"): "`active` while it applies, `resolved` once it no longer does",
    ("Problem", "type"): "The problem's kind, e.g. `/problems/not-found`: branch on this",
    ("Problem", "title"): "A short, fixed summary of the problem's kind",
    ("Problem", "status"): "The HTTP status code",
    ("ReferralCreate", "status"): "Where the referral stands; a referrer's always start `pending`",
    ("ReferralUpdate", "status"): "Where the referral stands: `pending`, `accepted`, `declined`, "
    "`completed`, `cancelled`",
    ("ReferralRead", "status"): "Where the referral stands: `pending`, `accepted`, `declined`, "
    "`completed`, `cancelled`",
    ("ReferralSummary", "referral_id"): "The referral (UUID) summarised",
    ("ReferralSummary", "referring_professional_id"): "The professional (UUID) who referred",
    ("ReferralSummary", "care_plans"): "The progress of each care plan answering the referral",
    ("ReferringProfessionalCreate", "active"): "Whether referrals may be recorded from them",
    ("ReferringProfessionalUpdate", "active"): "Whether referrals may be recorded from them",
    ("ReferringProfessionalRead", "active"): "Whether referrals may be recorded from them",
    ("SessionCreate", "status"): "`scheduled` to book it, or `completed` to record one already "
    "given",
    ("SessionUpdate", "status"): "`scheduled`, `completed`, `cancelled` or `no_show`",
    ("SessionRead", "status"): "`scheduled`, `completed`, `cancelled` or `no_show`",
    ("SessionCreate", "therapist_id"): "The therapist (UUID) giving the session",
    ("SessionUpdate", "therapist_id"): "The therapist (UUID) giving the session",
    ("SessionRead", "therapist_id"): "The therapist (UUID) giving the session",
    ("SessionCreate", "care_plan_id"): "The care plan (UUID) the session is part of; `null` for a "
    "one-off",
    ("SessionUpdate", "care_plan_id"): "The care plan (UUID) the session is part of; `null` for a "
    "one-off",
    ("SessionRead", "care_plan_id"): "The care plan (UUID) the session is part of; `null` for a "
    "one-off",
    ("SessionCreate", "client_id"): "The client (UUID) being treated",
    ("SessionCounts", "completed"): "Sessions given and completed",
    ("SoapRead", "subjective"): "S: what the client reported, as stored",
    ("SoapRead", "objective"): "O: what the therapist found, as stored",
    ("SoapRead", "assessment"): "A: the therapist's reading of the findings, as stored",
    ("SoapRead", "plan"): "P: what comes next, as stored",
    ("ReferralRead", "patient"): "The patient as the referrer named them, for a referral not "
    "yet linked to a client; `null` otherwise",
    ("ReferredPatient", "given_name"): "The patient's first name as the referrer writes it",
    ("ReferredPatient", "family_name"): "The patient's family name as the referrer writes it",
    ("ReferredPatient", "date_of_birth"): "Date of birth (`YYYY-MM-DD`), to find the right client",
    ("ReferredPatient", "phone"): "A number the clinic can call the patient on to book",
    ("ReferredPatient", "email"): "An address the clinic can write to the patient at",
    ("Soap", "subjective"): "S: what the client reports (pain, sleep, work, goals)",
    ("Soap", "objective"): "O: what the therapist finds (posture, palpation, range of motion)",
    ("Soap", "assessment"): "A: the therapist's reading of the findings and the progress",
    ("Soap", "plan"): "P: what comes next (frequency, focus, referral back)",
    ("SummaryClient", "id"): "The client (UUID)",
    ("SummaryPrecaution", "category"): "What kind of precaution, e.g. `anticoagulants`",
    ("SummaryPrecaution", "body_regions"): "Body regions concerned",
    ("SummaryProfessional", "id"): "The referring professional (UUID)",
    ("SummaryReferral", "id"): "The referral (UUID)",
    ("SummaryTherapist", "id"): "The therapist (UUID)",
    ("TherapistCreate", "active"): "Whether sessions may be booked with the therapist",
    ("TherapistUpdate", "active"): "Whether sessions may be booked with the therapist",
    ("TherapistRead", "active"): "Whether sessions may be booked with the therapist",
    ("UserCreate", "email"): "The address the user signs in with (unique)",
    ("UserCreate", "therapist_id"): "The therapist (UUID) a `therapist` user is; `null` otherwise",
    ("UserCreate", "referring_professional_id"): "The referring professional (UUID) a `referrer` "
    "user is; `null` otherwise",
    ("UserRead", "email"): "The address the user signs in with",
    ("UserRead", "active"): "Whether the user may sign in",
    ("UserUpdate", "active"): "`false` locks the user out at once; the account is kept",
    ("UserUpdate", "password"): "A new password, 12–256 characters",
    ("WarningRead", "code"): "The rule that matched, e.g. `local_precaution_region`",
    ("WarningRead", "message"): "What to watch for, for the therapist to read",
    ("WebhookCreate", "secret"): "Optional signing secret (`whsec_…`); one is made if left out",
    ("WebhookCreated", "secret"): "The signing secret (`whsec_…`): shown this once, store it now",
    ("WebhookCreate", "active"): "Whether events are sent to it",
    ("WebhookCreated", "active"): "Whether events are sent to it",
    ("WebhookUpdate", "active"): "`false` pauses delivery; events are kept and sent on resuming",
    ("WebhookRead", "active"): "Whether events are sent to it",
    ("WebhookCreated", "event_types"): "The event types sent to it",
    ("WebhookRead", "event_types"): "The event types sent to it",
}


def field_description(schema: str, name: str) -> str | None:
    """What a property means, from the tables above; `None` if they say nothing. An
    `XRead` schema reads what `X` says (`EmergencyContactRead` as `EmergencyContact`)."""
    return (
        FIELDS_BY_SCHEMA.get((schema, name))
        or FIELDS_BY_SCHEMA.get((schema.removesuffix("Read"), name))
        or FIELDS.get(name)
    )


# ---- realistic request bodies, by schema --------------------------------------------------------
# Ids are placeholders a reader recognises; the test replaces them with records it creates.

CLIENT_ID = "8a3f2c1e-5b7d-4e9a-a0c2-1f6e8d4b3a71"
THERAPIST_ID = "0d4e6f81-2a3b-4c5d-9e8f-7a6b5c4d3e21"
REFERRER_ID = "5c9b1e7a-3d2f-4a8b-b6c4-e2d1f0a9b852"
REFERRAL_ID = "c7e2a9d4-8b1f-4e3c-a5d6-9f0b2e4c6a13"
CARE_PLAN_ID = "e1b4d7a2-6c9f-4b3e-8d5a-2c7f9e1b4d60"
GOAL_ID = "3b8d2f6e-1a4c-4d7b-9e2f-5a8c1d6b3e94"

SOAP = {
    "subjective": "Low back pain 7/10 after a long week at the desk; sleeps poorly.",
    "objective": "Hypertonic lumbar paraspinals, right more than left; trigger point "
    "in right gluteus medius.",
    "assessment": "Muscular low back pain, consistent with the referral.",
    "plan": "Weekly sessions; add hip flexor stretches at home.",
}

# request bodies, and the objects inside them whose properties show these values
EXAMPLES: dict[str, dict[str, Any]] = {
    "EmergencyContact": {
        "name": "Chidi Okafor",
        "phone": "+44 7700 900456",
        "relationship": "partner",
    },
    "Soap": SOAP,
    "ReferredPatient": {
        "given_name": "Zoë",
        "family_name": "Okafor",
        "date_of_birth": "1986-04-12",
        "phone": "+44 7700 900123",
        "email": "zoe.okafor@example.org",
    },
    "SoapRead": SOAP,
    "MeasurementRead": {"measure": "nprs", "value": 7, "unit": "points", "timing": "pre"},
    "CoordinatedCare": {"description": "Physiotherapy twice a week, core stabilisation"},
    "LoginForm": {
        "grant_type": "password",
        "username": "mara.jensen@harbourside-massage.example",
        "password": "correct-horse-battery-staple",
    },
    "UserCreate": {
        "email": "mara.jensen@harbourside-massage.example",
        "password": "correct-horse-battery-staple",
        "display_name": "Mara Jensen",
        "role": "front_desk",
    },
    "UserUpdate": {"display_name": "Mara Jensen-Holt"},
    "ApiKeyCreate": {"name": "Front desk tablet", "role": "front_desk"},
    "TherapistCreate": {
        "full_name": "Ada Kneading",
        "email": "ada.kneading@harbourside-massage.example",
        "phone": "+44 20 7946 0958",
        "license_number": "LMT-204518",
        "license_region": "Ontario",
        "license_expires_on": "2028-03-31",
        "credentials": ["RMT"],
        "certifications": ["prenatal", "medical_massage"],
    },
    "TherapistUpdate": {"license_expires_on": "2030-03-31", "credentials": ["RMT", "BCTMB"]},
    "ReferringProfessionalCreate": {
        "full_name": "Dr. Amara Lindqvist",
        "discipline": "physical_therapy",
        "organization": "Riverside Physiotherapy",
        "email": "a.lindqvist@riverside-physio.example",
        "phone": "+44 20 7946 0321",
        "registration_number": "PH123456",
    },
    "ReferringProfessionalUpdate": {"organization": "Riverside Physiotherapy & Sports Injury"},
    "ClientCreate": {
        "given_name": "Zoë",
        "family_name": "Okafor",
        "date_of_birth": "1986-04-12",
        "email": "zoe.okafor@example.org",
        "phone": "+44 7700 900123",
        "address": "14 Tannery Lane, Bristol BS1 4DJ",
        "emergency_contact": {
            "name": "Chidi Okafor",
            "phone": "+44 7700 900456",
            "relationship": "partner",
        },
        "notes": "Prefers afternoon appointments; works at a desk all day.",
    },
    "ClientUpdate": {"phone": "+44 7700 900789", "notes": "Now works from home on Fridays."},
    "PrecautionCreate": {
        "category": "skin_condition",
        "severity": "local",
        "body_regions": ["lower_back"],
        "description": "Healing surgical scar, right lumbar area: no direct pressure yet.",
        "requires_clearance": False,
    },
    "PrecautionUpdate": {"status": "resolved"},
    "Clearance": {
        "referring_professional_id": REFERRER_ID,
        "cleared_on": "2026-11-20",
        "note": "Scar well healed; gentle work around it is fine.",
    },
    "ConsentCreate": {"kind": "treatment", "granted_on": "2026-11-02", "expires_on": "2027-11-01"},
    "ReferralCreate": {
        "client_id": CLIENT_ID,
        "referring_professional_id": REFERRER_ID,
        "received_on": "2026-11-02",
        "reason": "Persistent low back pain after lifting; massage alongside physiotherapy.",
        "diagnosis_codes": ["M54.5"],
        "diagnosis_text": "Low back pain, non-specific",
        "authorized_sessions": 8,
        "valid_until": "2027-02-28",
        "precautions_note": "No deep pressure over the lumbar spine in the first two weeks.",
    },
    "ReferralUpdate": {"status": "accepted"},
    "CarePlanCreate": {
        "client_id": CLIENT_ID,
        "referral_ids": [REFERRAL_ID],
        "primary_therapist_id": THERAPIST_ID,
        "title": "Low back pain – 8 sessions",
        "kind": "rehabilitation",
        "status": "active",
        "start_date": "2026-11-09",
        "end_date": "2027-01-29",
        "planned_sessions": 8,
        "sessions_per_week": 1,
        "coordinated_care": [
            {
                "referring_professional_id": REFERRER_ID,
                "discipline": "physical_therapy",
                "description": "Physiotherapy twice a week, core stabilisation",
            }
        ],
        "notes": "Focus on lumbar paraspinals and glutes; review at session 4.",
    },
    "CarePlanUpdate": {
        "sessions_per_week": 2,
        "notes": "Flare-up after moving house: twice weekly for two weeks.",
    },
    "GoalCreate": {
        "description": "Sit through a work day without back pain",
        "measure": "nprs",
        "baseline_value": 7,
        "target_value": 2,
        "target_date": "2027-01-29",
        "status": "active",
    },
    "GoalUpdate": {"target_value": 3, "target_date": "2027-02-12"},
    "SessionCreate": {
        "client_id": CLIENT_ID,
        "care_plan_id": CARE_PLAN_ID,
        "therapist_id": THERAPIST_ID,
        "scheduled_start": "2026-11-10T14:00:00+00:00",
        "duration_minutes": 60,
        "session_type": "therapeutic",
        "status": "completed",
        "body_regions": ["lower_back", "glutes", "hips"],
        "techniques": ["myofascial release", "trigger point"],
        "pressure": "moderate",
        "soap": SOAP,
        "measurements": [
            {"goal_id": GOAL_ID, "measure": "nprs", "value": 7, "timing": "pre"},
            {"goal_id": GOAL_ID, "measure": "nprs", "value": 5, "timing": "post"},
        ],
        "health_update": "Started physiotherapy last week.",
        "home_care": "Heat 15 minutes in the evening; hip flexor stretch twice a day.",
    },
    "SessionUpdate": {"home_care": "Heat 15 minutes in the evening; walk 20 minutes daily."},
    "AddendumCreate": {
        "text": "Post-treatment NPRS was 4, not 5.",
        "reason": "Value misread from the client's answer.",
    },
    "WebhookCreate": {
        "url": "https://ehr.riverside-physio.example/hooks/careplan",
        "event_types": ["session.signed", "care_plan.status_changed"],
    },
    "WebhookUpdate": {"event_types": ["session.signed"]},
}

# ---- what each operation does, who may call it, and its notable errors -----------------------

OPERATIONS: dict[str, str] = {
    "GET /v1/health": "Liveness: answers 200 while the process runs. Public, no token.",
    "GET /v1/health/ready": "Readiness: 200 once the database answers, 503 otherwise. Public.",
    "POST /v1/auth/token": "Exchange a user's e-mail and password for a bearer token (OAuth2 "
    "password flow). Open to anyone; wrong credentials are 401, repeated failures 429.",
    "POST /v1/users": "Create a user who signs in with e-mail and password. Admins only; an "
    "e-mail already in use is 409.",
    "GET /v1/users": "List the users, a page at a time. Admins only.",
    "GET /v1/users/{user_id}": "Read one user. Admins only.",
    "PATCH /v1/users/{user_id}": "Rename a user, set a new password or lock the user out "
    "(`active: false`). Admins only; needs `If-Match`.",
    "POST /v1/api-keys": "Create an API key for a system or device; the key is shown in the "
    "answer only. Admins only.",
    "GET /v1/api-keys": "List API keys, without their secrets. Admins only.",
    "GET /v1/api-keys/{key_id}": "Read one API key, without its secret. Admins only.",
    "DELETE /v1/api-keys/{key_id}": "Revoke an API key; requests with it are 401 from now on. "
    "Admins only.",
    "POST /v1/therapists": "Add a therapist to the clinic's directory. Admins and the front desk.",
    "GET /v1/therapists": "List the clinic's therapists. Any staff role.",
    "GET /v1/therapists/{entry_id}": "Read one therapist. Any staff role.",
    "PATCH /v1/therapists/{entry_id}": "Change a therapist's details, licence or certifications. "
    "Admins and the front desk; needs `If-Match`.",
    "DELETE /v1/therapists/{entry_id}": "Archive a therapist: kept for the records, no longer "
    "bookable. Admins and the front desk.",
    "POST /v1/referring-professionals": "Add a referring professional (a physiotherapist, a GP…) "
    "to the directory. Admins and the front desk.",
    "GET /v1/referring-professionals": "List referring professionals. Any staff role.",
    "GET /v1/referring-professionals/{entry_id}": "Read one referring professional. Any staff "
    "role.",
    "PATCH /v1/referring-professionals/{entry_id}": "Change a referring professional's details. "
    "Admins and the front desk; needs `If-Match`.",
    "DELETE /v1/referring-professionals/{entry_id}": "Archive a referring professional; their "
    "past referrals stay. Admins and the front desk.",
    "POST /v1/clients": "Register a new client. Admins, therapists and the front desk.",
    "GET /v1/clients": "Search and list clients, a page at a time. Admins, therapists "
    "and the front desk.",
    "GET /v1/clients/{client_id}": "Read a client's record. Staff roles; an archived client "
    "is 404.",
    "PATCH /v1/clients/{client_id}": "Change a client's details; only the fields sent change. "
    "Staff roles; needs `If-Match` (412 if stale).",
    "DELETE /v1/clients/{client_id}": "Archive a client: hidden everywhere, kept for the records. "
    "Admins, therapists and the front desk.",
    "GET /v1/clients/{client_id}/precautions": "List a client's precautions (contraindications). "
    "The front desk sees them without their clinical description.",
    "POST /v1/clients/{client_id}/precautions": "Record a precaution (pregnancy, DVT, a skin "
    "condition…) that screening checks every session against. Admins and therapists.",
    "GET /v1/precautions/{precaution_id}": "Read one precaution. Staff roles.",
    "PATCH /v1/precautions/{precaution_id}": "Change or resolve a precaution. Admins and "
    "therapists; needs `If-Match`.",
    "POST /v1/precautions/{precaution_id}/clearance": "Record that a referring professional "
    "cleared treatment despite the precaution. Admins and therapists; 409 if already cleared.",
    "GET /v1/clients/{client_id}/consents": "List a client's consents. Staff roles.",
    "POST /v1/clients/{client_id}/consents": "Record a consent the client gave: to treatment, or "
    "to share progress with a referrer. Staff roles.",
    "GET /v1/consents/{consent_id}": "Read one consent. Staff roles.",
    "POST /v1/consents/{consent_id}/revoke": "Revoke a consent at once; a referrer loses access "
    "the same moment. Staff roles; 409 if already revoked.",
    "GET /v1/clients/{client_id}/export": "Everything the clinic holds about a client, in one "
    "JSON document (a subject-access request). Admins and therapists.",
    "POST /v1/referrals": "Record a referral. Clinic staff name the `client_id`; a referring "
    "professional names the `patient`, and its referral stays `pending` until the clinic links "
    "a client. A malformed ICD-10 code is 422.",
    "GET /v1/referrals": "List referrals, a page at a time. A referrer sees only its own.",
    "GET /v1/referrals/{referral_id}": "Read one referral. A referrer reads only its own; others "
    "are 404.",
    "PATCH /v1/referrals/{referral_id}": "Change a referral or move its status (accept, decline, "
    "complete). Staff roles; needs `If-Match`; an illegal status move is 409.",
    "DELETE /v1/referrals/{referral_id}": "Archive a referral recorded in error. Admins, "
    "therapists and the front desk.",
    "POST /v1/care-plans": "Create a care plan for a client, optionally answering referrals. "
    "Admins and therapists; referrals of another client are 422.",
    "GET /v1/care-plans": "List care plans, a page at a time. Staff roles.",
    "GET /v1/care-plans/{care_plan_id}": "Read one care plan. Staff roles; the front desk sees it "
    "without notes and coordinated care.",
    "PATCH /v1/care-plans/{care_plan_id}": "Change a care plan or move its status. Admins and "
    "therapists; needs `If-Match`; an illegal status move is 409.",
    "DELETE /v1/care-plans/{care_plan_id}": "Archive a care plan and its goals. Admins and "
    "therapists.",
    "GET /v1/care-plans/{care_plan_id}/goals": "List a plan's goals. Admins and therapists.",
    "POST /v1/care-plans/{care_plan_id}/goals": "Add a measurable goal, e.g. NPRS from 7 to 2. "
    "Admins and therapists; values outside the measure's range are 422.",
    "GET /v1/goals/{goal_id}": "Read one goal. Admins and therapists.",
    "PATCH /v1/goals/{goal_id}": "Change a goal or record that it was achieved. Admins and "
    "therapists; needs `If-Match`.",
    "POST /v1/sessions": "Book a session, or record one already given with its SOAP note and "
    "measurements. Screened against the client's precautions: an absolute one is 409, others "
    "come back as `warnings`.",
    "GET /v1/sessions": "List sessions, filtered by client, therapist or date. A therapist sees "
    "notes of its own sessions; the front desk sees no clinical content.",
    "GET /v1/sessions/{session_id}": "Read one session. Staff roles; clinical content is hidden "
    "from the front desk.",
    "PATCH /v1/sessions/{session_id}": "Reschedule, complete or cancel a session, or write its "
    "note. Needs `If-Match`; a signed note is 409 (add an addendum instead).",
    "DELETE /v1/sessions/{session_id}": "Archive a session booked in error. Admins and "
    "therapists; a signed session is 409.",
    "POST /v1/sessions/{session_id}/sign": "Sign a completed session's note, freezing it. Its own "
    "therapist or an admin user; an API key or an incomplete session is 409.",
    "POST /v1/sessions/{session_id}/addenda": "Add a correction to a signed note; the note itself "
    "never changes. Admins and therapists.",
    "GET /v1/care-plans/{care_plan_id}/summary": "Progress of a care plan from signed notes: "
    "sessions, goal measures against their baseline, adverse events. JSON, HTML or PDF by "
    "`Accept`. Admins, therapists and the referrer.",
    "GET /v1/referrals/{referral_id}/summary": "Progress report for the referring professional, "
    "for each plan answering the referral. Admins, therapists and the referrer.",
    "GET /fhir/R4/metadata": "The FHIR CapabilityStatement: what the read-only FHIR R4 facade "
    "supports. Public.",
    "GET /fhir/R4/Patient/{resource_id}": "A client as a FHIR Patient. Errors are "
    "OperationOutcome.",
    "GET /fhir/R4/Practitioner/{resource_id}": "A therapist or referring professional as a FHIR "
    "Practitioner. Staff roles.",
    "GET /fhir/R4/ServiceRequest/{resource_id}": "A referral as a FHIR ServiceRequest. Admins, "
    "therapists and the referrer.",
    "GET /fhir/R4/CarePlan/{resource_id}": "A care plan as a FHIR CarePlan.",
    "GET /fhir/R4/Goal/{resource_id}": "A care-plan goal as a FHIR Goal.",
    "GET /fhir/R4/Encounter/{resource_id}": "A session as a FHIR Encounter.",
    "GET /fhir/R4/Observation/{resource_id}": "A measurement as a FHIR Observation with its LOINC "
    "code.",
    "GET /fhir/R4/Patient": "Search Patients; a Bundle of type searchset. Unknown parameters are "
    "400 unless `Prefer: handling=lenient`.",
    "GET /fhir/R4/CarePlan": "Search a patient's CarePlans; a Bundle of type searchset.",
    "GET /fhir/R4/Encounter": "Search a patient's Encounters (sessions) in time order.",
    "GET /fhir/R4/Observation": "Search a patient's Observations (measurements) in time order.",
    "GET /v1/audit-events": "The audit trail: who read or changed which record, when, from "
    "where. Admins only.",
    "GET /v1/events": "The events feed, in commit order, for systems that poll instead of "
    "receiving webhooks. Admins only.",
    "POST /v1/webhooks": "Subscribe an HTTPS address to events; each delivery is signed "
    "(Standard Webhooks). Admins only.",
    "GET /v1/webhooks": "List webhooks, without their secrets. Admins only.",
    "GET /v1/webhooks/{webhook_id}": "Read one webhook. Admins only.",
    "PATCH /v1/webhooks/{webhook_id}": "Change a webhook's address or event types, or pause it. "
    "Admins only; needs `If-Match`.",
    "DELETE /v1/webhooks/{webhook_id}": "Stop sending to a webhook; its delivery log is kept. "
    "Admins only.",
    "GET /v1/webhooks/{webhook_id}/deliveries": "The delivery log of a webhook, with every "
    "attempt's status. Admins only.",
    "POST /v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry": "Send a failed delivery "
    "again now. Admins only; 409 if it is already on its way.",
    "GET /v1/export": "The clinic's data as NDJSON, one row a line, streamed; archived rows "
    "included. For backups and moving to another system. Admins only.",
    "GET /metrics": "Prometheus metrics for the whole server, summed over worker processes.",
}

# ---- query parameters a route leaves undescribed, by name ------------------------------------

PARAMETERS: dict[str, str] = {
    "discipline": "Only professionals of this field, e.g. `physical_therapy`",
    "client_id": "Only records of this client (UUID)",
    "care_plan_id": "Only sessions of this care plan (UUID)",
    "therapist_id": "Only sessions given by this therapist (UUID)",
    "status": "Only sessions in this status, e.g. `scheduled`",
    "actor_id": "Only what this user or API key (UUID) did",
    "action": "Only this kind of action, e.g. `export` or `denied`",
}
