-- A connection may trust JWTs its identity provider signs (Entra's "blank secret" mode): the
-- issuer and audience its tokens must carry, and where the provider publishes its keys.
ALTER TABLE connection_settings ADD COLUMN jwt_issuer TEXT;
ALTER TABLE connection_settings ADD COLUMN jwt_audience TEXT;
ALTER TABLE connection_settings ADD COLUMN jwks_url TEXT;
CREATE INDEX connection_settings_issuer ON connection_settings (jwt_issuer);
