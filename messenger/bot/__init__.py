"""The Telegram bot: staff administration and the patient's side of the conversation."""
