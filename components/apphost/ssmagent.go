package apphost

// SSMAgentScript returns files/deploylab-ssm-agent.sh, the installer of the SSM agent (Debian AMIs ship none),
// and SSMAgentPath is where user data installs it. The Jenkins controller installs the same script, so both
// hosts are reachable through Session Manager the same way.
func SSMAgentScript() string { return ssmScript }

// SSMAgentPath is the installed path of SSMAgentScript.
const SSMAgentPath = ssmScriptPath
