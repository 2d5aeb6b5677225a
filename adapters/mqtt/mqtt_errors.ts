/**
 * Turns what mqtt.js and TLS report into one line that says what is wrong
 * and what to do, for the adapter's lastError and the log.
 */
import { mqttBrokerAddress } from "./options.ts";

/** The broker as the user wrote it, for messages. */
export interface BrokerRef {
  url: URL;
}

/** One line describing why connecting to the broker failed, with the fix. */
export function describeMqttError(e: unknown, broker: BrokerRef): string {
  const err = e as { code?: string | number; message?: string };
  const code = err?.code;
  const msg = err?.message ?? String(e);
  const where = mqttBrokerAddress(broker.url);
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || /getaddrinfo|failed to lookup/i.test(msg)) {
    return `Cannot resolve the broker host "${broker.url.hostname}"; check --mqtt`;
  }
  // mqtt.js words CONNACK refusals "Connection refused: …" too; those have numeric codes.
  if (code === "ECONNREFUSED" || (typeof code !== "number" && /connection refused/i.test(msg))) {
    return `Broker ${where} refused the connection; check that it runs and the port in --mqtt`;
  }
  if (code === "ETIMEDOUT" || /timed? ?out/i.test(msg)) {
    return `Broker ${where} did not answer in time; check --mqtt and the firewall`;
  }
  // CONNACK refusals: 3.1.1 return codes 4/5, MQTT 5 reason codes 134/135.
  if (code === 4 || code === 5 || code === 134 || code === 135 || /not authori[sz]ed/i.test(msg)) {
    return `Broker ${where} refused the credentials (${msg}); check --mqtt-username and --mqtt-password-file or --mqtt-password-env, or the client certificate's rights`;
  }
  if (code === 2 || code === 133) {
    return `Broker ${where} rejected the client id (${msg}); check --mqtt-client-id`;
  }
  if (code === 1 || code === 132) {
    return `Broker ${where} does not speak this MQTT version (${msg}); try --mqtt-version 3.1.1`;
  }
  if (
    // A fatal alert from the broker about this hop's certificate: missing, unknown CA, bad.
    /CERTIFICATE_REQUIRED|certificate required|bad certificate|UNKNOWN_CA|UnknownCA|BAD_CERTIFICATE|BadCertificate|CERTIFICATE_UNKNOWN/i
      .test(`${code} ${msg}`)
  ) {
    return `The broker refused this hop's client certificate (${
      code ?? msg
    }); pass --mqtt-cert and --mqtt-key with a certificate the broker trusts`;
  }
  if (
    code === "SELF_SIGNED_CERT_IN_CHAIN" || code === "DEPTH_ZERO_SELF_SIGNED_CERT" ||
    code === "UNABLE_TO_VERIFY_LEAF_SIGNATURE" || code === "UNABLE_TO_GET_ISSUER_CERT_LOCALLY" ||
    /self[- ]signed|unable to verify|unknown ?issuer|invalid ?certificate|UnknownIssuer/i.test(msg)
  ) {
    return `The broker's certificate is not trusted (${
      code ?? msg
    }); pass --mqtt-ca with the CA certificate that issued it`;
  }
  if (code === "CERT_HAS_EXPIRED" || /expired/i.test(msg)) {
    return `The broker's certificate has expired (${msg}); renew it on the broker`;
  }
  if (
    code === "ERR_TLS_CERT_ALTNAME_INVALID" || /altname|not valid for|NotValidForName/i.test(msg)
  ) {
    return `The broker's certificate does not name "${broker.url.hostname}" (${msg}); use the host name in its certificate in --mqtt`;
  }
  if (/wrong version number|packet length|record overflow|WRONG_VERSION/i.test(`${code} ${msg}`)) {
    return `TLS with broker ${where} failed (${msg}); check mqtts:// versus mqtt:// and the port in --mqtt`;
  }
  return `Connecting to broker ${where} failed: ${msg}${code !== undefined ? ` (${code})` : ""}`;
}
