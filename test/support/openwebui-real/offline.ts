/**
 * Every setting the real Open WebUI (0.10–0.12) needs to start and work with no network but 127.0.0.1,
 * in one place. Found by reading `open_webui/{env,config,main}.py` and `routers/retrieval.py` of both
 * pinned releases and by tracing start-up's connect() calls. The same settings serve the pip install and
 * the container (host networking, so 127.0.0.1 is this host in both).
 */
import { FAKE_CHAT_MODEL, FAKE_EMBEDDING_MODEL, type FakeOpenAI } from '../fake-openai.js';

/** Options for {@link offlineEnv}. */
export interface OfflineOptions {
  /**
   * false sets ENABLE_PERSISTENT_CONFIG=False, so these env settings win over those stored in webui.db's
   * `config` table. Keep the default (true, as deployed) unless a test restores a database made against
   * another fake server: a restored webui.db brings its own embedding URL and key.
   */
  persistentConfig?: boolean;
}

/** Environment for an offline Open WebUI that embeds and chats through `fake`. */
export function offlineEnv(fake: Pick<FakeOpenAI, 'url' | 'origin' | 'apiKey'>, opts: OfflineOptions = {}): Record<string, string> {
  return {
    // env.py: sets HF_HUB_OFFLINE=1 and turns off model auto-updates (RAG_*_MODEL_AUTO_UPDATE,
    // WHISPER_MODEL_AUTO_UPDATE) and pip installs of tool/function requirements (utils/plugin.py).
    OFFLINE_MODE: 'true',
    HF_HUB_OFFLINE: '1',
    TRANSFORMERS_OFFLINE: '1',
    // Embeddings through the fake server, so get_ef() never loads a SentenceTransformer (routers/retrieval.py).
    RAG_EMBEDDING_ENGINE: 'openai',
    RAG_EMBEDDING_MODEL: FAKE_EMBEDDING_MODEL,
    RAG_OPENAI_API_BASE_URL: fake.url,
    RAG_OPENAI_API_KEY: fake.apiKey,
    // No reranker model (hybrid search would load one) and the character splitter (the token splitter
    // fetches tiktoken's cl100k_base from the internet).
    ENABLE_RAG_HYBRID_SEARCH: 'false',
    RAG_RERANKING_MODEL: '',
    RAG_TEXT_SPLITTER: 'character',
    // Chat models from the fake server only.
    ENABLE_OPENAI_API: 'true',
    OPENAI_API_BASE_URL: fake.url,
    OPENAI_API_KEY: fake.apiKey,
    DEFAULT_MODELS: FAKE_CHAT_MODEL,
    // Ollama off. An explicit OLLAMA_BASE_URL also stops config.py's start-up probe of ports 11434 and
    // 12434 (0.12) and, with ENV=prod as in the image, the lookup of host.docker.internal.
    ENABLE_OLLAMA_API: 'false',
    OLLAMA_BASE_URL: fake.origin,
    // No update check against GitHub, no telemetry from chromadb or the UI.
    ENABLE_VERSION_UPDATE_CHECK: 'false',
    ANONYMIZED_TELEMETRY: 'false',
    DO_NOT_TRACK: 'true',
    SCARF_NO_ANALYTICS: 'true',
    // aiohttp sessions use trust_env=True: a proxy set for this machine must not capture 127.0.0.1.
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
    ...(opts.persistentConfig === false ? { ENABLE_PERSISTENT_CONFIG: 'False' } : {}),
  };
}
