"""What requested rows vary over: how they read, who says them, what out-of-scope ones are about.

Asking for a style, a speaker and (for `none`) a topic per row keeps an LLM from writing the same
few requests again and again.
"""

# How the requested texts should read: speech-to-text output, not written prose.
STYLES = (
    "capitalised and punctuated, as Whisper transcribes it",
    "capitalised and punctuated, numbers and times as digits",
    "all lower-case, no punctuation",
    "all lower-case, no punctuation, numbers and times as words (five thirty pm)",
    "starts with a filler or wake word (um, uh, hey, okay so), lower-case",
    "polite (please, could you, can you), as spoken",
    "short and terse, only a few words",
    "long and chatty, with a little extra context",
)

# Topics for out-of-scope requests; the prompt also asks for near misses of real intents.
OUT_OF_SCOPE_TOPICS = (
    "playing music or podcasts",
    "smart home devices (lights, heating, locks)",
    "timers and alarms",
    "general knowledge questions",
    "arithmetic and unit conversions",
    "directions, traffic and travel",
    "phone calls and text messages",
    "online shopping and orders",
    "jokes, chit-chat and compliments",
    "news and sports scores",
    "reading, searching or deleting e-mails (not sending one)",
    "completing, deleting or listing existing tasks (not adding one)",
    "past weather, climate facts or weather in a film",
    "calendar events and meetings",
    "translation and definitions",
    "recipes and cooking",
    "health, fitness and medicine",
    "banking and payments",
    "booking restaurants, taxis or hotels",
    "device settings (volume, brightness, wifi)",
    "stocks and cryptocurrencies",
    "films, TV and books",
    "personal advice and opinions",
    "vague or unfinished requests (a few words that ask for nothing)",
)

# Who is speaking: a lever for varied vocabulary and values that works for any intent.
SPEAKERS = (
    "a student", "a nurse on night shifts", "a parent of two toddlers", "a retired teacher",
    "a small business owner", "a software developer", "a builder on a job site", "a chef",
    "a teenager", "a sales rep who travels a lot", "someone driving", "someone cooking",
    "a university researcher", "a farmer", "a shop assistant", "an office manager",
    "someone who is not a native English speaker", "an elderly person", "a musician",
    "a personal trainer", "a lawyer", "a delivery driver", "a new homeowner", "a pet owner",
    "someone planning a wedding", "someone moving house", "a doctor", "a gardener",
)  # fmt: skip
