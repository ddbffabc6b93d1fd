/** Moved to lib/: kept so that existing imports work. */
export { cleanMessage, redactText, redactUrl } from "../../lib/redact";
