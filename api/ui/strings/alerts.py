"""The alerts page: the alerts by state, acknowledging one, the rules (alerts.html, alerts.js);
the top bar's count of open alerts is the base layout's (common.py)."""

from __future__ import annotations

from api.ui.strings.texts import Texts

EN: Texts = {
    "alerts.title": "Alerts",
    "alerts.states": "Which alerts",
    "alerts.tab_open": "Open",
    "alerts.tab_acknowledged": "Acknowledged",
    "alerts.tab_cleared": "Cleared",
    "alerts.tab_all": "All",
    "alerts.title_open": "Open alerts",
    "alerts.title_acknowledged": "Acknowledged alerts",
    "alerts.title_cleared": "Cleared alerts",
    "alerts.title_all": "All alerts",
    "alerts.col_state": "State",
    "alerts.col_alert": "Alert",
    "alerts.col_since": "Since",
    "alerts.col_opened": "Opened",
    "alerts.col_acknowledged": "Acknowledged",
    "alerts.state_open": "open",
    "alerts.state_acknowledged": "acknowledged",
    "alerts.state_cleared": "cleared",
    "alerts.kind_offline": "Charge point offline",
    "alerts.kind_faulted": "Connector Faulted",
    "alerts.kind_boot_rejected": "Boot rejected",
    "alerts.kind_stuck_transaction": "Transaction stuck",
    "alerts.kind_load_over_limit": "Load group over its limit",
    "alerts.load_group": "load group {id}",
    "alerts.cleared_at": "cleared {time}",
    "alerts.none_open": "No open alerts: nothing needs a person now.",
    "alerts.none": "No alerts.",
    "alerts.acknowledge": "Acknowledge",
    "alerts.ack_title": "Acknowledge this alert?",
    "alerts.ack_what": "{title} (alert {id}, opened {time})",
    "alerts.ack_note": "Note (optional): what is being done about it",
    "alerts.acknowledged": "Alert {id} acknowledged",
    "alerts.rules": "Rules",
    "alerts.rules_intro": "An alert opens once per rule and charge point, connector, session or load group when the "
                          "condition has lasted the rule's minutes, and clears by itself when it ends. Each is sent to "
                          "the webhooks (events {opened}, {cleared}, {acknowledged}) and by e-mail to the rule's "
                          "recipients.",
    "alerts.admin_only": "Only an admin sees and changes the rules.",
    "alerts.col_condition": "Condition",
    "alerts.col_minutes": "After (minutes)",
    "alerts.col_on": "On",
    "alerts.col_emails": "E-mail to",
    "alerts.minutes": "After minutes",
    "alerts.emails_placeholder": "E-mail to: ops@example.com, …",
    "alerts.emails_nobody": "nobody",
    "alerts.add_rule": "Add rule",
    "alerts.rule_added": "Rule {id} added",
    "alerts.rule_saved": "Rule {id} saved",
    "alerts.rule_deleted": "Rule {id} deleted",
    "alerts.confirm_delete_rule": "Delete the rule \"{kind}\"? Its open alerts clear at the next evaluation.",
    "alerts.no_rules": "No rules: no alert will open.",
}
