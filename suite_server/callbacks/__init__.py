"""Where pushes come in: the four callback URLs, verified, decrypted and stored before answering."""
