package moto

// ClientEnv is the process environment that points the AWS SDK at endpoint
// with fake credentials and no shared configuration files, so a developer's
// profile cannot interfere with a test or a local run.
func ClientEnv(endpoint string) map[string]string {
	return map[string]string{
		"AWS_REGION":                  Region,
		"AWS_ACCESS_KEY_ID":           "testing",
		"AWS_SECRET_ACCESS_KEY":       "testing",
		"AWS_ENDPOINT_URL":            endpoint,
		"AWS_CONFIG_FILE":             "/nonexistent",
		"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
		// Lambda sets no CA bundle; a machine's (behind a TLS proxy) would
		// cost every setup a parse of hundreds of certificates.
		"AWS_CA_BUNDLE": "",
	}
}
