"""The routes, one router per concern: answers, chat, health, the chat page."""
