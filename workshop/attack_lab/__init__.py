"""Stage 07's shared runtime: the parts of the attack lab a student reads but does not edit.

- lab_secrets: how the lab server takes its secrets (flags, keys) out of its environment
- weather_service: the upstream weather service the lab server calls, and a listener that records requests
- exploit_kit: small helpers an exploit script uses (call a tool, read a public page, catch a request)
- target/: the vulnerable lab server, exactly as the starter hands it out; exploits are graded against it
"""
