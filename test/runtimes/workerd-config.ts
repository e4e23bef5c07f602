/** The workerd configuration the runtime tests serve a bundled worker with (one module, text bindings). */
export interface WorkerdConfig {
  port: number;
  /** The bundle's file name, next to the configuration file. */
  module: string;
  bindings: Record<string, string>;
  nodejsCompat: boolean;
  /** A header whose value ("https") workerd takes as the client's protocol, as a TLS proxy would. */
  forwardedProtoHeader?: string;
}

export function workerdConfig(options: WorkerdConfig): string {
  const http = options.forwardedProtoHeader
    ? `(forwardedProtoHeader = "${options.forwardedProtoHeader}")`
    : '()';
  const bindings = Object.entries(options.bindings)
    .map(([name, text]) => `(name = "${name}", text = "${text}")`)
    .join(', ');
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .app) ],
  sockets = [ (name = "http", address = "127.0.0.1:${options.port}", http = ${http}, service = "main") ],
);
const app :Workerd.Worker = (
  modules = [ (name = "${options.module}", esModule = embed "${options.module}") ],
  bindings = [ ${bindings} ],
  compatibilityDate = "2026-07-01",
  compatibilityFlags = [${options.nodejsCompat ? '"nodejs_compat"' : ''}],
);
`;
}
