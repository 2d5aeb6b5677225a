/** `--opcua-security` and `--opcua-server-security` settings as node-opcua's modes and policies. */
import { MessageSecurityMode, SecurityPolicy } from "node-opcua-client";

/** `SignAndEncrypt:Basic256Sha256` (or `None`) → node-opcua's mode and policy. */
export function securityOf(setting: string): [MessageSecurityMode, SecurityPolicy] {
  if (setting === "None") return [MessageSecurityMode.None, SecurityPolicy.None];
  const [mode, policy] = setting.split(":") as [
    keyof typeof MessageSecurityMode,
    keyof typeof SecurityPolicy,
  ];
  return [MessageSecurityMode[mode], SecurityPolicy[policy]];
}
