/** The agent's version (`enigm-ota-agent --version`, the Debian package); kept equal to package.json's by a unit test. */
export const AGENT_VERSION = '0.1.0';
