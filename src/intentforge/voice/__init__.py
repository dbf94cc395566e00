"""Voice: speech-to-text, text-to-speech, the voice pipeline and speech-robust training data."""

from intentforge.voice.audio import AudioError, NoSpeechError, decode_audio
from intentforge.voice.loop import VoicePipeline, VoiceTurn
from intentforge.voice.stt import Transcriber, Transcript, WhisperTranscriber, transcriber_from
from intentforge.voice.tts import EspeakSpeaker, PiperSpeaker, Speaker, speaker_from

__all__ = [
    "AudioError",
    "EspeakSpeaker",
    "NoSpeechError",
    "PiperSpeaker",
    "Speaker",
    "Transcriber",
    "Transcript",
    "VoicePipeline",
    "VoiceTurn",
    "WhisperTranscriber",
    "decode_audio",
    "speaker_from",
    "transcriber_from",
]
