"""chat-sentiment: parse Twitch (Chatty logs shipped by Filebeat) and X chat records, score their sentiment."""

__version__ = "0.1.0"
