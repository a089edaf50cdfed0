"""Mail: who receives what (notifications) and the SMTP outbox sender."""
