"""Alerts (issue #21): rules an operator keeps, a periodic evaluation that opens an alert once per
rule and subject while its condition holds and clears it when it ends, and delivery by webhook
(events ``alert.opened``, ``alert.cleared``, ``alert.acknowledged``) and SMTP e-mail.

``shapes`` holds what every side shares (the kinds, how an alert reads), ``evaluator`` the
evaluation, ``mailer`` the e-mail; the rules and acknowledgements are written by
:class:`csms.services.alerts.AlertService`, read by :class:`csms.queries.alerts.AlertQueries`.
Kept out of this file so that importing a part does not import them all.
"""
