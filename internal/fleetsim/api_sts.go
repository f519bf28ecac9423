package fleetsim

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

var stsActions = map[string]xmlHandler{
	"GetCallerIdentity":         (*Sim).stsGetCallerIdentity,
	"AssumeRole":                (*Sim).stsAssumeRole,
	"AssumeRoleWithWebIdentity": (*Sim).stsAssumeRoleWithWebIdentity,
}

// tempCredential is a session issued by AssumeRole*; requests signed with it
// are verified against its secret and token.
type tempCredential struct {
	secret, token string
	arn, userID   string
	expires       time.Time // simulated
	wallExpires   time.Time // when requests signed with it are refused
}

var roleARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$`)

func (s *Sim) stsGetCallerIdentity(req *apiRequest, x *xmlw) *apiError {
	arn := "arn:aws:iam::" + s.opts.AccountID + ":user/fleetsim"
	userID := "AIDA" + strings.ToUpper(s.hexLocked(17))
	if t, ok := s.tempCreds[req.accessKey]; ok {
		arn, userID = t.arn, t.userID
	} else if req.accessKey != "" {
		userID = "AIDA" + strings.ToUpper(strings.TrimPrefix(req.accessKey, "AKIA"))
	}
	x.leaf("UserId", userID)
	x.leaf("Account", s.opts.AccountID)
	x.leaf("Arn", arn)
	return nil
}

func (s *Sim) assumeRoleLocked(req *apiRequest, x *xmlw, webIdentity bool) *apiError {
	role := req.get("RoleArn")
	session := req.get("RoleSessionName")
	req.call.Params = map[string]string{"RoleArn": role, "RoleSessionName": session}
	if !roleARNPattern.MatchString(role) {
		return clientErr("ValidationError", "%s is invalid", role)
	}
	if session == "" || len(session) > 64 {
		return clientErr("ValidationError", "1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64", session)
	}
	duration := 3600
	if v := req.get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 900 || n > 43200 {
			return clientErr("ValidationError", "1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", v)
		}
		duration = n
	}
	if webIdentity {
		tok := req.get("WebIdentityToken")
		if len(tok) < 4 {
			return &apiError{status: 400, code: "InvalidIdentityToken", message: "Couldn't retrieve verification key from your identity provider"}
		}
	}
	roleName := role[strings.LastIndex(role, "/")+1:]
	roleID := "AROA" + strings.ToUpper(s.hexLocked(17))
	akid := "ASIA" + s.upperLocked(16)
	cred := tempCredential{
		secret:  s.hexLocked(40),
		token:   "FQoGZXIvYXdzE" + s.hexLocked(120),
		arn:     "arn:aws:sts::" + s.opts.AccountID + ":assumed-role/" + roleName + "/" + session,
		userID:  roleID + ":" + session,
		expires: s.now.Add(time.Duration(duration) * time.Second),
		// The session lasts its duration in simulated time, so at a time
		// scale of 0.001 a 900 s session expires after 0.9 s of wall time
		// and credential refreshes happen within a test.
		wallExpires: time.Now().Add(s.WallDuration(time.Duration(duration) * time.Second)),
	}
	s.tempCreds[akid] = cred
	x.open("Credentials")
	x.leaf("AccessKeyId", akid)
	x.leaf("SecretAccessKey", cred.secret)
	x.leaf("SessionToken", cred.token)
	// Expiration is reported in wall time so SDK credential caches, which
	// compare it with the real clock, refresh before the simulator refuses.
	x.time("Expiration", cred.wallExpires)
	x.close("Credentials")
	x.open("AssumedRoleUser")
	x.leaf("AssumedRoleId", cred.userID)
	x.leaf("Arn", cred.arn)
	x.close("AssumedRoleUser")
	x.int("PackedPolicySize", 0)
	if webIdentity {
		x.leaf("SubjectFromWebIdentityToken", "fleetsim-subject")
		x.leaf("Audience", "aws.workload.identity")
		x.leaf("Provider", "app.terraform.io")
	}
	return nil
}

func (s *Sim) stsAssumeRole(req *apiRequest, x *xmlw) *apiError {
	return s.assumeRoleLocked(req, x, false)
}

func (s *Sim) stsAssumeRoleWithWebIdentity(req *apiRequest, x *xmlw) *apiError {
	return s.assumeRoleLocked(req, x, true)
}
