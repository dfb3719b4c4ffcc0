package awstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	iamNS = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// awsManaged are the AWS-managed policies the shim knows (kumo knows none).
var awsManaged = map[string]bool{"AdministratorAccess": true, "IAMFullAccess": true, "ReadOnlyAccess": true, "PowerUserAccess": true}

// request is one decoded Query-protocol call.
type request struct {
	w       http.ResponseWriter
	r       *http.Request
	body    []byte
	form    url.Values
	service string // "iam" or "sts", from the SigV4 credential scope
	action  string
	caller  string // IAM user name; "" for root
}

func (q *request) get(k string) string { return q.form.Get(k) }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// Restore the body for kumo behind the reverse proxy.
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	q := &request{w: w, r: r, body: body, form: form, action: form.Get("Action")}
	scope := credentialScope(r.Header.Get("Authorization"))
	if len(scope) == 5 {
		q.service = scope[3]
	}
	if !s.authenticate(q, scope) {
		return
	}
	if s.injected(q) {
		return
	}
	if h := s.handler(q); h != nil {
		h(q)
		return
	}
	s.proxy.ServeHTTP(w, r)
}

// authenticate checks the key id and the SigV4 signature as AWS would.
func (s *Server) authenticate(q *request, scope []string) bool {
	auth := q.r.Header.Get("Authorization")
	if len(scope) != 5 {
		s.writeError(q, "MissingAuthenticationToken", "Request is missing Authentication Token", http.StatusForbidden)
		return false
	}
	id := scope[0]
	secret := ""
	s.mu.Lock()
	if id == s.RootAccessKeyID {
		secret = s.RootSecretAccessKey
	} else if k := s.keys[id]; k != nil && k.status == "Active" && !k.rejected {
		secret, q.caller = k.secret, k.user
	}
	s.mu.Unlock()
	if secret == "" {
		s.writeError(q, "InvalidClientTokenId", "The security token included in the request is invalid.", http.StatusForbidden)
		return false
	}
	if !verifySignature(q, auth, id, secret, scope) {
		s.writeError(q, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.", http.StatusForbidden)
		return false
	}
	if q.caller != "" {
		s.mu.Lock()
		if k := s.keys[id]; k != nil {
			k.lastUsed, k.lastService = time.Now().UTC(), q.service
		}
		s.mu.Unlock()
	}
	return true
}

// credentialScope splits "Credential=AKID/date/region/service/aws4_request".
func credentialScope(auth string) []string {
	i := strings.Index(auth, "Credential=")
	if i < 0 {
		return nil
	}
	c := auth[i+len("Credential="):]
	if j := strings.IndexAny(c, ", "); j >= 0 {
		c = c[:j]
	}
	return strings.Split(c, "/")
}

// verifySignature re-signs the request with the known secret over the
// headers the client signed and compares the signatures.
func verifySignature(q *request, auth, id, secret string, scope []string) bool {
	signed := ""
	if i := strings.Index(auth, "SignedHeaders="); i >= 0 {
		signed = auth[i+len("SignedHeaders="):]
		if j := strings.IndexAny(signed, ", "); j >= 0 {
			signed = signed[:j]
		}
	}
	at, err := time.Parse("20060102T150405Z", q.r.Header.Get("X-Amz-Date"))
	if err != nil {
		return false
	}
	req, err := http.NewRequest(q.r.Method, "http://"+q.r.Host+q.r.URL.RequestURI(), bytes.NewReader(q.body))
	if err != nil {
		return false
	}
	req.Host = q.r.Host
	req.ContentLength = int64(len(q.body))
	for _, h := range strings.Split(signed, ";") {
		if h == "host" || h == "content-length" {
			continue
		}
		req.Header[http.CanonicalHeaderKey(h)] = q.r.Header.Values(h)
	}
	sum := sha256.Sum256(q.body)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}, req,
		hex.EncodeToString(sum[:]), scope[3], scope[2], at)
	return err == nil && signature(req.Header.Get("Authorization")) == signature(auth) && signature(auth) != ""
}

func signature(auth string) string {
	if i := strings.Index(auth, "Signature="); i >= 0 {
		return auth[i+len("Signature="):]
	}
	return ""
}

// injected answers with a queued failure or throttle, if any.
func (s *Server) injected(q *request) bool {
	s.mu.Lock()
	code := ""
	if list := s.fail[q.action]; len(list) > 0 {
		code, s.fail[q.action] = list[0], list[1:]
	} else if s.throttle[q.action] > 0 {
		s.throttle[q.action]--
		code = "Throttling"
	}
	s.mu.Unlock()
	if code == "" {
		return false
	}
	status := map[string]int{"Throttling": 400, "AccessDenied": 403, "InvalidClientTokenId": 403, "SignatureDoesNotMatch": 403,
		"NoSuchEntity": 404, "LimitExceeded": 409, "ServiceFailure": 500, "ServiceUnavailable": 503}[code]
	if status == 0 {
		status = 400
	}
	s.writeError(q, code, "injected by awstest for "+q.action, status)
	return true
}

func (s *Server) handler(q *request) func(*request) {
	if q.service == "sts" {
		if q.action == "GetCallerIdentity" {
			return s.getCallerIdentity
		}
		return nil
	}
	switch q.action {
	case "UpdateAccessKey":
		return s.updateAccessKey
	case "GetAccessKeyLastUsed":
		return s.getAccessKeyLastUsed
	case "ListAccessKeys":
		return s.listAccessKeys
	case "CreateAccessKey":
		return s.createAccessKey
	case "DeleteAccessKey":
		return s.deleteAccessKey
	case "ListUsers":
		return s.listUsers
	case "GetUser":
		return s.getUser
	case "AttachUserPolicy", "DetachUserPolicy":
		return s.userPolicyAttachment
	case "ListAttachedUserPolicies":
		return s.listAttachedUserPolicies
	case "PutUserPolicy", "GetUserPolicy", "ListUserPolicies", "DeleteUserPolicy":
		return s.inlinePolicy
	case "CreateGroup", "GetGroup", "ListGroups", "ListGroupsForUser", "AddUserToGroup", "RemoveUserFromGroup",
		"AttachGroupPolicy", "ListAttachedGroupPolicies":
		return s.group
	}
	return nil
}

// --- responses ---

func (s *Server) writeError(q *request, code, msg string, status int) {
	ns := iamNS
	if q.service == "sts" {
		ns = stsNS
	}
	q.w.Header().Set("Content-Type", "text/xml")
	q.w.WriteHeader(status)
	fmt.Fprintf(q.w, `<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>awstest</RequestId></ErrorResponse>`,
		ns, esc(code), esc(msg))
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// writeResult wraps inner XML (already escaped) in the action's envelope.
func writeResult(q *request, inner string) {
	ns := iamNS
	if q.service == "sts" {
		ns = stsNS
	}
	q.w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(q.w, `<%sResponse xmlns="%s"><%sResult>%s</%sResult><ResponseMetadata><RequestId>awstest</RequestId></ResponseMetadata></%sResponse>`,
		q.action, ns, q.action, inner, q.action, q.action)
}

func el(name, value string) string { return "<" + name + ">" + esc(value) + "</" + name + ">" }

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func members(items []string) string {
	return "<member>" + strings.Join(items, "</member><member>") + "</member>"
}

// page applies Marker/MaxItems over names sorted ascending; it returns the
// slice to send and the trailer (IsTruncated and Marker).
func page(q *request, names []string) ([]string, string) {
	sort.Strings(names)
	start := 0
	if m := q.get("Marker"); m != "" {
		start = sort.SearchStrings(names, m)
	}
	max := 100
	if v, err := strconv.Atoi(q.get("MaxItems")); err == nil && v > 0 {
		max = v
	}
	end := min(start+max, len(names))
	if end < len(names) {
		return names[start:end], "<IsTruncated>true</IsTruncated>" + el("Marker", names[end])
	}
	return names[start:end], "<IsTruncated>false</IsTruncated>"
}

// --- calls to kumo ---

type kumoUser struct {
	UserName   string    `xml:"UserName"`
	UserID     string    `xml:"UserId"`
	Arn        string    `xml:"Arn"`
	Path       string    `xml:"Path"`
	CreateDate time.Time `xml:"CreateDate"`
}

// kumoCall sends a form to kumo as the named service and returns status and body.
func (s *Server) kumoCall(service string, form url.Values) (int, []byte, error) {
	if form.Get("Version") == "" {
		form.Set("Version", "2010-05-08")
	}
	req, err := http.NewRequest(http.MethodPost, s.kumo.URL+"/", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=awstest/19700101/"+Region+"/"+service+"/aws4_request, SignedHeaders=host, Signature=awstest")
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// relay forwards the request's form to kumo and copies the answer back.
func (s *Server) relay(q *request) (int, []byte, bool) {
	status, body, err := s.kumoCall(q.service, q.form)
	if err != nil {
		s.writeError(q, "ServiceUnavailable", err.Error(), http.StatusServiceUnavailable)
		return 0, nil, false
	}
	return status, body, true
}

func copyAnswer(q *request, status int, body []byte) {
	q.w.Header().Set("Content-Type", "text/xml")
	q.w.WriteHeader(status)
	_, _ = q.w.Write(body)
}

// user fetches a user from kumo, answering NoSuchEntity when it is missing.
func (s *Server) user(q *request, name string) (*kumoUser, bool) {
	status, body, err := s.kumoCall("iam", url.Values{"Action": {"GetUser"}, "UserName": {name}})
	if err != nil || status != http.StatusOK {
		s.writeError(q, "NoSuchEntity", "The user with name "+name+" cannot be found.", http.StatusNotFound)
		return nil, false
	}
	var out struct {
		User kumoUser `xml:"GetUserResult>User"`
	}
	if err := xml.Unmarshal(body, &out); err != nil {
		s.writeError(q, "ServiceFailure", "awstest: decode kumo GetUser: "+err.Error(), http.StatusInternalServerError)
		return nil, false
	}
	return &out.User, true
}

func userXML(u *kumoUser) string {
	return "<User>" + el("UserName", u.UserName) + el("UserId", u.UserID) + el("Arn", u.Arn) + el("Path", u.Path) +
		el("CreateDate", ts(u.CreateDate)) + "</User>"
}

// --- identity ---

func (s *Server) getCallerIdentity(q *request) {
	if q.caller == "" {
		writeResult(q, el("Arn", "arn:aws:iam::"+AccountID+":root")+el("UserId", AccountID)+el("Account", AccountID))
		return
	}
	u, ok := s.user(q, q.caller)
	if !ok {
		return
	}
	writeResult(q, el("Arn", u.Arn)+el("UserId", u.UserID)+el("Account", AccountID))
}

func (s *Server) getUser(q *request) {
	name := q.get("UserName")
	if name == "" && q.caller == "" {
		writeResult(q, "<User>"+el("UserId", AccountID)+el("Arn", "arn:aws:iam::"+AccountID+":root")+el("CreateDate", ts(time.Unix(0, 0)))+"</User>")
		return
	}
	if name == "" {
		name = q.caller
	}
	u, ok := s.user(q, name)
	if !ok {
		return
	}
	writeResult(q, userXML(u))
}

func (s *Server) listUsers(q *request) {
	status, body, err := s.kumoCall("iam", url.Values{"Action": {"ListUsers"}, "MaxItems": {"1000000000"}, "PathPrefix": {q.get("PathPrefix")}})
	if err != nil || status != http.StatusOK {
		s.writeError(q, "ServiceFailure", fmt.Sprintf("awstest: kumo ListUsers: %v (status %d)", err, status), http.StatusInternalServerError)
		return
	}
	var out struct {
		Users []kumoUser `xml:"ListUsersResult>Users>member"`
	}
	if err := xml.Unmarshal(body, &out); err != nil {
		s.writeError(q, "ServiceFailure", "awstest: decode kumo ListUsers: "+err.Error(), http.StatusInternalServerError)
		return
	}
	byName := map[string]*kumoUser{}
	names := make([]string, 0, len(out.Users))
	for i := range out.Users {
		byName[out.Users[i].UserName] = &out.Users[i]
		names = append(names, out.Users[i].UserName)
	}
	sel, trailer := page(q, names)
	var b strings.Builder
	b.WriteString("<Users>")
	for _, n := range sel {
		b.WriteString("<member>" + strings.TrimSuffix(strings.TrimPrefix(userXML(byName[n]), "<User>"), "</User>") + "</member>")
	}
	b.WriteString("</Users>" + trailer)
	writeResult(q, b.String())
}

// --- access keys ---

func (s *Server) createAccessKey(q *request) {
	status, body, ok := s.relay(q)
	if !ok {
		return
	}
	if status == http.StatusOK {
		var out struct {
			Key struct {
				ID     string `xml:"AccessKeyId"`
				Secret string `xml:"SecretAccessKey"`
				User   string `xml:"UserName"`
			} `xml:"CreateAccessKeyResult>AccessKey"`
		}
		if err := xml.Unmarshal(body, &out); err == nil {
			s.mu.Lock()
			s.keys[out.Key.ID] = &keyState{user: out.Key.User, secret: out.Key.Secret, status: "Active", rejected: s.rejectNew}
			s.mu.Unlock()
		}
	}
	copyAnswer(q, status, body)
}

func (s *Server) deleteAccessKey(q *request) {
	status, body, ok := s.relay(q)
	if !ok {
		return
	}
	if status == http.StatusOK {
		s.mu.Lock()
		delete(s.keys, q.get("AccessKeyId"))
		s.mu.Unlock()
	}
	copyAnswer(q, status, body)
}

// listAccessKeys asks kumo (which checks the user) and puts the shim's
// status into each entry.
func (s *Server) listAccessKeys(q *request) {
	name := q.get("UserName")
	if name == "" {
		name = q.caller
	}
	status, body, err := s.kumoCall("iam", url.Values{"Action": {"ListAccessKeys"}, "UserName": {name}})
	if err != nil {
		s.writeError(q, "ServiceUnavailable", err.Error(), http.StatusServiceUnavailable)
		return
	}
	if status != http.StatusOK {
		copyAnswer(q, status, body)
		return
	}
	var out struct {
		Keys []struct {
			ID         string    `xml:"AccessKeyId"`
			Status     string    `xml:"Status"`
			UserName   string    `xml:"UserName"`
			CreateDate time.Time `xml:"CreateDate"`
		} `xml:"ListAccessKeysResult>AccessKeyMetadata>member"`
	}
	if err := xml.Unmarshal(body, &out); err != nil {
		s.writeError(q, "ServiceFailure", "awstest: decode kumo ListAccessKeys: "+err.Error(), http.StatusInternalServerError)
		return
	}
	sort.Slice(out.Keys, func(i, j int) bool { return out.Keys[i].CreateDate.Before(out.Keys[j].CreateDate) })
	var b strings.Builder
	b.WriteString("<AccessKeyMetadata>")
	s.mu.Lock()
	for _, k := range out.Keys {
		st := k.Status
		if ks := s.keys[k.ID]; ks != nil {
			st = ks.status
		}
		b.WriteString("<member>" + el("AccessKeyId", k.ID) + el("Status", st) + el("UserName", k.UserName) + el("CreateDate", ts(k.CreateDate)) + "</member>")
	}
	s.mu.Unlock()
	b.WriteString("</AccessKeyMetadata><IsTruncated>false</IsTruncated>")
	writeResult(q, b.String())
}

func (s *Server) updateAccessKey(q *request) {
	id, status, name := q.get("AccessKeyId"), q.get("Status"), q.get("UserName")
	if name == "" {
		name = q.caller
	}
	if status != "Active" && status != "Inactive" {
		s.writeError(q, "ValidationError", "Status must be Active or Inactive", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	k := s.keys[id]
	if k == nil || k.user != name {
		s.mu.Unlock()
		s.writeError(q, "NoSuchEntity", "The Access Key with id "+id+" cannot be found.", http.StatusNotFound)
		return
	}
	k.status = status
	s.mu.Unlock()
	writeResult(q, "")
}

func (s *Server) getAccessKeyLastUsed(q *request) {
	id := q.get("AccessKeyId")
	s.mu.Lock()
	k := s.keys[id]
	var user, svc string
	var at time.Time
	if k != nil {
		user, svc, at = k.user, k.lastService, k.lastUsed
	}
	s.mu.Unlock()
	if k == nil {
		s.writeError(q, "NoSuchEntity", "The Access Key with id "+id+" cannot be found.", http.StatusNotFound)
		return
	}
	inner := el("UserName", user) + "<AccessKeyLastUsed>"
	if at.IsZero() {
		inner += el("ServiceName", "N/A") + el("Region", "N/A")
	} else {
		inner += el("LastUsedDate", ts(at)) + el("ServiceName", svc) + el("Region", Region)
	}
	writeResult(q, inner+"</AccessKeyLastUsed>")
}

// --- managed policy attachments of users ---

func isAWSManaged(arn string) (string, bool) {
	name, ok := strings.CutPrefix(arn, "arn:aws:iam::aws:policy/")
	return name, ok
}

func (s *Server) userPolicyAttachment(q *request) {
	name, arn := q.get("UserName"), q.get("PolicyArn")
	if _, ok := s.user(q, name); !ok {
		return
	}
	if managed, ok := isAWSManaged(arn); ok {
		if !awsManaged[managed] {
			s.writeError(q, "NoSuchEntity", "Policy "+arn+" does not exist or is not attachable.", http.StatusNotFound)
			return
		}
	} else {
		status, body, ok := s.relay(q)
		if !ok {
			return
		}
		if status != http.StatusOK {
			copyAnswer(q, status, body)
			return
		}
	}
	s.mu.Lock()
	list := s.attached[name]
	i := indexOf(list, arn)
	switch {
	case q.action == "AttachUserPolicy" && i < 0:
		s.attached[name] = append(list, arn)
	case q.action == "DetachUserPolicy" && i < 0:
		s.mu.Unlock()
		s.writeError(q, "NoSuchEntity", "Policy "+arn+" was not found.", http.StatusNotFound)
		return
	case q.action == "DetachUserPolicy":
		s.attached[name] = append(list[:i:i], list[i+1:]...)
	}
	s.mu.Unlock()
	writeResult(q, "")
}

func indexOf(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}

func policyName(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

func attachedXML(arns []string) string {
	var b strings.Builder
	b.WriteString("<AttachedPolicies>")
	for _, a := range arns {
		b.WriteString("<member>" + el("PolicyName", policyName(a)) + el("PolicyArn", a) + "</member>")
	}
	b.WriteString("</AttachedPolicies><IsTruncated>false</IsTruncated>")
	return b.String()
}

func (s *Server) listAttachedUserPolicies(q *request) {
	name := q.get("UserName")
	if _, ok := s.user(q, name); !ok {
		return
	}
	s.mu.Lock()
	arns := append([]string(nil), s.attached[name]...)
	s.mu.Unlock()
	writeResult(q, attachedXML(arns))
}

// --- inline user policies ---

func (s *Server) inlinePolicy(q *request) {
	name, pol := q.get("UserName"), q.get("PolicyName")
	if _, ok := s.user(q, name); !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	docs := s.inline[name]
	switch q.action {
	case "PutUserPolicy":
		if docs == nil {
			docs = map[string]string{}
			s.inline[name] = docs
		}
		docs[pol] = q.get("PolicyDocument")
		writeResult(q, "")
	case "GetUserPolicy":
		doc, ok := docs[pol]
		if !ok {
			s.writeError(q, "NoSuchEntity", "The user policy with name "+pol+" cannot be found.", http.StatusNotFound)
			return
		}
		// AWS returns the document URL-encoded (RFC 3986).
		writeResult(q, el("UserName", name)+el("PolicyName", pol)+el("PolicyDocument", url.PathEscape(doc)))
	case "ListUserPolicies":
		names := make([]string, 0, len(docs))
		for n := range docs {
			names = append(names, n)
		}
		sort.Strings(names)
		inner := "<PolicyNames></PolicyNames>"
		if len(names) > 0 {
			inner = "<PolicyNames>" + members(escAll(names)) + "</PolicyNames>"
		}
		writeResult(q, inner+"<IsTruncated>false</IsTruncated>")
	case "DeleteUserPolicy":
		if _, ok := docs[pol]; !ok {
			s.writeError(q, "NoSuchEntity", "The user policy with name "+pol+" cannot be found.", http.StatusNotFound)
			return
		}
		delete(docs, pol)
		writeResult(q, "")
	}
}

func escAll(in []string) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = esc(v)
	}
	return out
}

// --- groups ---

func groupXML(g *groupState) string {
	return el("Path", "/") + el("GroupName", g.name) + el("GroupId", g.id) + el("Arn", g.arn) + el("CreateDate", ts(g.created))
}

func (s *Server) group(q *request) {
	gname, uname := q.get("GroupName"), q.get("UserName")
	if uname != "" {
		if _, ok := s.user(q, uname); !ok {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[gname]
	if g == nil && q.action != "CreateGroup" && q.action != "ListGroups" && q.action != "ListGroupsForUser" {
		s.writeError(q, "NoSuchEntity", "The group with name "+gname+" cannot be found.", http.StatusNotFound)
		return
	}
	switch q.action {
	case "CreateGroup":
		if g != nil {
			s.writeError(q, "EntityAlreadyExists", "Group with name "+gname+" already exists.", http.StatusConflict)
			return
		}
		g = &groupState{name: gname, arn: "arn:aws:iam::" + AccountID + ":group/" + gname, id: "AGPA" + randomUpper(17),
			created: time.Now().UTC(), members: map[string]bool{}}
		s.groups[gname] = g
		writeResult(q, "<Group>"+groupXML(g)+"</Group>")
	case "GetGroup":
		var users []string
		for u := range g.members {
			users = append(users, u)
		}
		sort.Strings(users)
		var b strings.Builder
		b.WriteString("<Group>" + groupXML(g) + "</Group><Users>")
		for _, u := range users {
			b.WriteString("<member>" + el("UserName", u) + el("Arn", "arn:aws:iam::"+AccountID+":user/"+u) + el("UserId", "AIDA") + el("Path", "/") + el("CreateDate", ts(g.created)) + "</member>")
		}
		b.WriteString("</Users><IsTruncated>false</IsTruncated>")
		writeResult(q, b.String())
	case "ListGroups", "ListGroupsForUser":
		var names []string
		for n, g := range s.groups {
			if q.action == "ListGroups" || g.members[uname] {
				names = append(names, n)
			}
		}
		sel, trailer := page(q, names)
		var b strings.Builder
		b.WriteString("<Groups>")
		for _, n := range sel {
			b.WriteString("<member>" + groupXML(s.groups[n]) + "</member>")
		}
		b.WriteString("</Groups>" + trailer)
		writeResult(q, b.String())
	case "AddUserToGroup":
		g.members[uname] = true
		writeResult(q, "")
	case "RemoveUserFromGroup":
		if !g.members[uname] {
			s.writeError(q, "NoSuchEntity", "User "+uname+" is not in group "+gname+".", http.StatusNotFound)
			return
		}
		delete(g.members, uname)
		writeResult(q, "")
	case "AttachGroupPolicy":
		if indexOf(g.attached, q.get("PolicyArn")) < 0 {
			g.attached = append(g.attached, q.get("PolicyArn"))
		}
		writeResult(q, "")
	case "ListAttachedGroupPolicies":
		writeResult(q, attachedXML(g.attached))
	}
}

// wipe empties kumo's IAM store: keys, attachments, users, policies.
func (s *Server) wipe() {
	_, body, err := s.kumoCall("iam", url.Values{"Action": {"ListUsers"}, "MaxItems": {"1000000000"}})
	if err != nil {
		return
	}
	var users struct {
		Names []string `xml:"ListUsersResult>Users>member>UserName"`
	}
	_ = xml.Unmarshal(body, &users)
	_, body, err = s.kumoCall("iam", url.Values{"Action": {"ListPolicies"}, "MaxItems": {"1000000000"}})
	if err != nil {
		return
	}
	var policies struct {
		ARNs []string `xml:"ListPoliciesResult>Policies>member>Arn"`
	}
	_ = xml.Unmarshal(body, &policies)
	for _, u := range users.Names {
		for _, p := range policies.ARNs {
			_, _, _ = s.kumoCall("iam", url.Values{"Action": {"DetachUserPolicy"}, "UserName": {u}, "PolicyArn": {p}})
		}
		_, body, err := s.kumoCall("iam", url.Values{"Action": {"ListAccessKeys"}, "UserName": {u}})
		if err == nil {
			var keys struct {
				IDs []string `xml:"ListAccessKeysResult>AccessKeyMetadata>member>AccessKeyId"`
			}
			_ = xml.Unmarshal(body, &keys)
			for _, id := range keys.IDs {
				_, _, _ = s.kumoCall("iam", url.Values{"Action": {"DeleteAccessKey"}, "UserName": {u}, "AccessKeyId": {id}})
			}
		}
		_, _, _ = s.kumoCall("iam", url.Values{"Action": {"DeleteUser"}, "UserName": {u}})
	}
	for _, p := range policies.ARNs {
		_, _, _ = s.kumoCall("iam", url.Values{"Action": {"DeletePolicy"}, "PolicyArn": {p}})
	}
}
